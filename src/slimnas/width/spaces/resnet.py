"""CIFAR-style ResNet of basic blocks (depth 6n+2): a group per stage output, per block mid."""

from __future__ import annotations

from slimnas.width.spaces.registry import register
from slimnas.width.spec import INPUT, BlockSpec, ConvSpec, NetSpec


@register("resnet")
def resnet(
    depth: int = 20,
    width_mult: float = 1.0,
    in_channels: int = 3,
    input_size: int = 32,
    num_classes: int = 10,
) -> NetSpec:
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 with n >= 1 (20, 32, 56, ...), got {depth}")
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    n = (depth - 2) // 6
    names = ["stage1"]
    channels = [max(4, round(16 * width_mult))]
    blocks = [BlockSpec((ConvSpec(INPUT, 0, 3, 1),))]
    prev = 0
    for si, base in enumerate((16, 32, 64)):
        if si == 0:
            out = 0
        else:
            out = len(names)
            names.append(f"stage{si + 1}")
            channels.append(max(4, round(base * width_mult)))
        for i in range(n):
            stride = 2 if si > 0 and i == 0 else 1
            mid = len(names)
            names.append(f"stage{si + 1}.block{i + 1}.mid")
            channels.append(max(4, round(base * width_mult)))
            shortcut = "identity" if prev == out and stride == 1 else "conv"
            blocks.append(BlockSpec(
                (ConvSpec(prev, mid, 3, stride), ConvSpec(mid, out, 3, act=None)),
                shortcut=shortcut, post_act="relu",
            ))
            prev = out
    return NetSpec(
        "resnet",
        dict(depth=depth, width_mult=width_mult, in_channels=in_channels, input_size=input_size,
             num_classes=num_classes),
        tuple(names), tuple(channels), tuple(blocks), prev, in_channels, input_size, num_classes,
    )
