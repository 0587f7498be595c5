"""The two Channel-Bench-Macro spaces (ALGORITHMS.md section 2), with size options."""

from __future__ import annotations

from slimnas.width.spaces.registry import register
from slimnas.width.spec import INPUT, BlockSpec, ConvSpec, NetSpec

MOBILENET_MAX = (128, 768, 768, 768, 256, 1536, 1024)
RESNET_MAX = (256, 256, 256, 512, 512, 512, 512)
NAMES = tuple(f"w{i}" for i in range(1, 8))


def _scaled(widths: tuple[int, ...], mult: float) -> tuple[int, ...]:
    if mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {mult}")
    return tuple(max(4, round(w * mult)) for w in widths)


def _mb(cin: int, hidden: int, cout: int, stride: int, residual: bool) -> BlockSpec:
    return BlockSpec(
        (
            ConvSpec(cin, hidden, 1),
            ConvSpec(hidden, hidden, 3, stride, depthwise=True),
            ConvSpec(hidden, cout, 1, act=None),
        ),
        shortcut="identity" if residual else "none",
    )


@register("cbm-mobilenet")
def cbm_mobilenet(
    width_mult: float = 1.0, in_channels: int = 3, input_size: int = 32, num_classes: int = 10
) -> NetSpec:
    stem = BlockSpec((ConvSpec(INPUT, 0, 3, 2),))
    blocks = (
        stem,
        _mb(0, 1, 0, 1, True),
        _mb(0, 2, 0, 1, True),
        _mb(0, 3, 4, 2, False),
        _mb(4, 5, 4, 1, True),
        BlockSpec((ConvSpec(4, 6, 1),)),
    )
    return NetSpec(
        "cbm-mobilenet",
        dict(width_mult=width_mult, in_channels=in_channels, input_size=input_size,
             num_classes=num_classes),
        NAMES, _scaled(MOBILENET_MAX, width_mult), blocks, 6, in_channels, input_size,
        num_classes,
    )


def _basic(cin: int, mid: int, cout: int, stride: int, residual: bool) -> BlockSpec:
    return BlockSpec(
        (ConvSpec(cin, mid, 3, stride), ConvSpec(mid, cout, 3, act=None)),
        shortcut="identity" if residual else "none",
        post_act="relu",
    )


@register("cbm-resnet")
def cbm_resnet(
    width_mult: float = 1.0, in_channels: int = 3, input_size: int = 32, num_classes: int = 10
) -> NetSpec:
    blocks = (
        BlockSpec((ConvSpec(INPUT, 0, 3, 2),)),
        _basic(0, 1, 0, 1, True),
        _basic(0, 2, 0, 1, True),
        _basic(0, 3, 4, 2, False),
        _basic(4, 5, 4, 1, True),
        _basic(4, 6, 4, 1, True),
    )
    return NetSpec(
        "cbm-resnet",
        dict(width_mult=width_mult, in_channels=in_channels, input_size=input_size,
             num_classes=num_classes),
        NAMES, _scaled(RESNET_MAX, width_mult), blocks, 4, in_channels, input_size, num_classes,
    )
