"""A plain conv stack, one group per conv: synthetic spaces for tests and fairness counts."""

from __future__ import annotations

from slimnas.width.spaces.registry import register
from slimnas.width.spec import INPUT, BlockSpec, ConvSpec, NetSpec


@register("plaincnn")
def plaincnn(
    depth: int = 3, width: int = 16, in_channels: int = 3, input_size: int = 8,
    num_classes: int = 10,
) -> NetSpec:
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got {depth}, {width}")
    blocks = [BlockSpec((ConvSpec(INPUT, 0, 3, 1),))]
    blocks += [BlockSpec((ConvSpec(g - 1, g, 3, 2 if g == 1 else 1),)) for g in range(1, depth)]
    return NetSpec(
        "plaincnn",
        dict(depth=depth, width=width, in_channels=in_channels, input_size=input_size,
             num_classes=num_classes),
        tuple(f"conv{g + 1}" for g in range(depth)), (width,) * depth, tuple(blocks), depth - 1,
        in_channels, input_size, num_classes,
    )
