"""CIFAR-style MobileNetV2 (stride-1 stem, ReLU6): one group per stage output, per hidden width."""

from __future__ import annotations

from slimnas.width.spaces.registry import register
from slimnas.width.spec import INPUT, BlockSpec, ConvSpec, NetSpec

# (expansion t, channels c, repeats n, stride s) of the MobileNetV2 paper, CIFAR strides
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))


@register("mobilenetv2")
def mobilenetv2(
    width_mult: float = 1.0, in_channels: int = 3, input_size: int = 32, num_classes: int = 10
) -> NetSpec:
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")

    def ch(c: float) -> int:
        return max(8, round(c * width_mult))

    names: list[str] = ["stem"]
    channels: list[int] = [ch(32)]
    blocks: list[BlockSpec] = [BlockSpec((ConvSpec(INPUT, 0, 3, 1, act="relu6"),))]
    prev = 0
    for si, (t, c, n, s) in enumerate(SETTINGS):
        out = len(names)
        names.append(f"stage{si + 1}")
        channels.append(ch(c))
        for i in range(n):
            stride = s if i == 0 else 1
            if t == 1:  # no expansion: the depthwise runs on the input group
                convs = (ConvSpec(prev, prev, 3, stride, depthwise=True, act="relu6"),
                         ConvSpec(prev, out, 1, act=None))
            else:
                hid = len(names)
                names.append(f"stage{si + 1}.block{i + 1}.hidden")
                channels.append(channels[prev] * t)
                convs = (ConvSpec(prev, hid, 1, act="relu6"),
                         ConvSpec(hid, hid, 3, stride, depthwise=True, act="relu6"),
                         ConvSpec(hid, out, 1, act=None))
            residual = stride == 1 and prev == out
            blocks.append(BlockSpec(convs, shortcut="identity" if residual else "none"))
            prev = out
    names.append("last")
    channels.append(round(1280 * max(1.0, width_mult)))  # as the paper: never below 1280
    blocks.append(BlockSpec((ConvSpec(prev, len(names) - 1, 1, act="relu6"),)))
    return NetSpec(
        "mobilenetv2",
        dict(width_mult=width_mult, in_channels=in_channels, input_size=input_size,
             num_classes=num_classes),
        tuple(names), tuple(channels), tuple(blocks), len(names) - 1, in_channels, input_size,
        num_classes,
    )

