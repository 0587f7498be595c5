"""Framework-free layer specification of a width-searchable network.

The same `NetSpec` drives the supernet builder, the exported stand-alone net and the
closed-form FLOPs/params count, so the three can never disagree about the layout.
Every conv is bias-free and followed by a BatchNorm; a group index names a searchable
channel group, `INPUT` the image channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INPUT = -1
NONE = -2  # in a cost term (coef, a, b): a factor of 1 instead of a group's width
ACTIVATIONS = ("relu", "relu6", None)


@dataclass(frozen=True)
class ConvSpec:
    cin: int  # group index, or INPUT
    cout: int  # group index
    kernel: int
    stride: int = 1
    depthwise: bool = False  # groups == channels; then cin must equal cout
    act: str | None = "relu"

    def __post_init__(self) -> None:
        if self.depthwise and self.cin != self.cout:
            raise ValueError("a depthwise conv keeps its group: cin must equal cout")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.act!r}")


@dataclass(frozen=True)
class BlockSpec:
    """A chain of conv+BN(+act); optional shortcut added to the chain's output.

    shortcut: "none", "identity" (input group must equal output group) or "conv"
    (1x1 conv + BN at the block's stride, projecting cin to cout).
    post_act: activation applied after the add (ResNet), or None.
    """

    convs: tuple[ConvSpec, ...]
    shortcut: str = "none"
    post_act: str | None = None

    @property
    def cin(self) -> int:
        return self.convs[0].cin

    @property
    def cout(self) -> int:
        return self.convs[-1].cout

    @property
    def stride(self) -> int:
        s = 1
        for c in self.convs:
            s *= c.stride
        return s

    def shortcut_conv(self) -> ConvSpec | None:
        if self.shortcut != "conv":
            return None
        return ConvSpec(self.cin, self.cout, 1, self.stride, act=None)

    def __post_init__(self) -> None:
        if self.shortcut not in ("none", "identity", "conv"):
            raise ValueError(f"unknown shortcut {self.shortcut!r}")
        if self.shortcut == "identity" and (self.cin != self.cout or self.stride != 1):
            raise ValueError("an identity shortcut needs the same group and stride 1")


@dataclass(frozen=True)
class NetSpec:
    """Blocks, then global average pool and a Linear on group `head_in`."""

    family: str
    options: dict = field(hash=False, compare=False)
    group_names: tuple[str, ...]
    base_channels: tuple[int, ...]  # full width of each group before any rule widens it
    blocks: tuple[BlockSpec, ...]
    head_in: int
    in_channels: int
    input_size: int
    num_classes: int

    @property
    def num_groups(self) -> int:
        return len(self.group_names)

    def convs(self) -> list[tuple[ConvSpec, int]]:
        """Every conv (shortcut convs included) with its OUTPUT spatial size, in order."""
        out: list[tuple[ConvSpec, int]] = []
        size = self.input_size
        for block in self.blocks:
            start = size
            for conv in block.convs:
                size = conv_out_size(size, conv.kernel, conv.stride)
                out.append((conv, size))
            sc = block.shortcut_conv()
            if sc is not None:
                out.append((sc, conv_out_size(start, 1, sc.stride)))
        return out

    def cost_terms(self) -> tuple[list, list, int]:
        """(MACs terms, params terms, constant params): each term (coef, a, b) stands for
        coef * ch[a] * ch[b] (NONE: a factor 1). MACs: every conv plus the final Linear."""
        macs: list[tuple[int, int, int]] = []
        params: list[tuple[int, int, int]] = []
        for conv, size in self.convs():
            k2 = conv.kernel * conv.kernel
            hw = size * size
            if conv.depthwise:
                a, b, mult = NONE, conv.cout, 1
            elif conv.cin == INPUT:
                a, b, mult = NONE, conv.cout, self.in_channels
            else:
                a, b, mult = conv.cin, conv.cout, 1
            macs.append((k2 * hw * mult, a, b))
            params.append((k2 * mult, a, b))
            params.append((2, NONE, conv.cout))  # BN gamma + beta
        macs.append((self.num_classes, self.head_in, NONE))
        params.append((self.num_classes, self.head_in, NONE))
        return macs, params, self.num_classes  # the Linear's bias

    def validate(self) -> None:
        groups = range(self.num_groups)
        for conv, size in self.convs():
            if conv.cout not in groups or (conv.cin != INPUT and conv.cin not in groups):
                raise ValueError(f"conv refers to an unknown group: {conv}")
            if size < 1:
                raise ValueError(f"input size {self.input_size} is too small for {self.family}")
        if self.head_in not in groups:
            raise ValueError("head_in is not a group")


def conv_out_size(size: int, kernel: int, stride: int) -> int:
    """Output side of a conv with 'same' padding kernel // 2."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1
