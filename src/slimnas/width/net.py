"""`WidthNet`: the network a `NetSpec` describes, as a supernet or as a plain network.

One class and one forward serve both: with `dynamic=True` the layers are the dynamic
ones of `dynamic.py` and `forward(x, path)` runs the sub-network whose per-group channel
selections `path` holds; with `dynamic=False` they are plain `nn.Conv2d`/`nn.BatchNorm2d`/
`nn.Linear` and `forward(x)` is an ordinary network (what `export` writes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from slimnas.width.dynamic import DynamicBatchNorm2d, DynamicConv2d, DynamicLinear, Selection
from slimnas.width.space import PathSpec, WidthSpace
from slimnas.width.spec import INPUT, ConvSpec, NetSpec

Path = tuple[Selection, ...]


def _act(name: str | None, x: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return F.relu6(x)
    return x


class ConvUnit(nn.Module):
    """conv -> BN -> activation."""

    def __init__(self, spec: ConvSpec, cin: int, cout: int, dynamic: bool):
        super().__init__()
        self.act, self.dynamic = spec.act, dynamic
        if dynamic:
            self.conv = DynamicConv2d(cin, cout, spec.kernel, spec.stride, spec.depthwise)
            self.bn = DynamicBatchNorm2d(cout)
        else:
            groups = cout if spec.depthwise else 1
            self.conv = nn.Conv2d(cin, cout, spec.kernel, spec.stride, spec.kernel // 2,
                                  groups=groups, bias=False)
            self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, sin: Selection = None, sout: Selection = None):
        if self.dynamic:
            return _act(self.act, self.bn(self.conv(x, sin, sout), sout))
        return _act(self.act, self.bn(self.conv(x)))


class Block(nn.Module):
    def __init__(self, units: list[ConvUnit], shortcut: ConvUnit | None):
        super().__init__()
        self.convs = nn.ModuleList(units)
        self.shortcut = shortcut


class WidthNet(nn.Module):
    def __init__(self, spec: NetSpec, channels: Sequence[int], dynamic: bool):
        super().__init__()
        self.spec, self.channels, self.dynamic = spec, tuple(channels), dynamic

        def width(g: int) -> int:
            return spec.in_channels if g == INPUT else self.channels[g]

        blocks = []
        for b in spec.blocks:
            units = [ConvUnit(c, width(c.cin), width(c.cout), dynamic) for c in b.convs]
            sc = b.shortcut_conv()
            short = ConvUnit(sc, width(sc.cin), width(sc.cout), dynamic) if sc else None
            blocks.append(Block(units, short))
        self.blocks = nn.ModuleList(blocks)
        cin = width(spec.head_in)
        self.head = DynamicLinear(cin, spec.num_classes) if dynamic \
            else nn.Linear(cin, spec.num_classes)

    def forward(self, x: torch.Tensor, path: Path | None = None) -> torch.Tensor:
        if path is None:
            path = (None,) * len(self.channels)

        def sel(g: int) -> Selection:
            return None if g == INPUT else path[g]

        for block, bspec in zip(self.blocks, self.spec.blocks, strict=True):
            y = x
            for unit, cs in zip(block.convs, bspec.convs, strict=True):
                y = unit(y, sel(cs.cin), sel(cs.cout))
            if bspec.shortcut == "identity":
                y = y + x
            elif block.shortcut is not None:
                y = y + block.shortcut(x, sel(bspec.cin), sel(bspec.cout))
            x = _act(bspec.post_act, y)
        x = x.mean((2, 3))
        if self.dynamic:
            return self.head(x, sel(self.spec.head_in))
        return self.head(x)

    def bn_modules(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, DynamicBatchNorm2d | nn.BatchNorm2d)]


def build_supernet(space: WidthSpace) -> nn.Module:
    """The supernet of a space: a `WidthNet`, or for a traced model the user's own module
    with slim layers (`width/own/supernet.py`); both take `forward(x, path)`."""
    if isinstance(space.spec, NetSpec):
        return WidthNet(space.spec, space.channels, dynamic=True)
    from slimnas.width.own.supernet import OwnSupernet

    return OwnSupernet(space.spec.model, space.spec, space.channels)


_SEL_CACHE: dict[tuple, Selection] = {}


def selections(space: WidthSpace, path: PathSpec) -> Path:
    """Per-group channel selections of a path: slices when its bins are contiguous."""
    out = []
    for g, bins in enumerate(path.bins):
        key = (space.channels[g], space.bins[g], bins)
        sel = _SEL_CACHE.get(key)
        if sel is None:
            if bins == tuple(range(bins[0], bins[-1] + 1)):
                lo, _ = space.bin_range(g, bins[0], bins[0] + 1)
                _, hi = space.bin_range(g, bins[-1], bins[-1] + 1)
                sel = slice(lo, hi)
            else:
                sel = torch.tensor(space.bin_channels(g, bins), dtype=torch.long)
            _SEL_CACHE[key] = sel
        out.append(sel)
    return tuple(out)


def path_channel_indices(space: WidthSpace, path: PathSpec) -> list[list[int]]:
    return [space.bin_channels(g, bins) for g, bins in enumerate(path.bins)]


@torch.no_grad()
def extract(supernet: nn.Module, space: WidthSpace, path: PathSpec) -> nn.Module:
    """Freeze one path of a supernet into a plain network with the inherited weights: a
    `WidthNet`, or a plain copy of a traced user's model."""
    sels = selections(space, path)
    if not isinstance(supernet, WidthNet):
        from slimnas.width.own.supernet import extract_own

        return extract_own(supernet, sels)
    counts = [len(ix) for ix in path_channel_indices(space, path)]
    net = WidthNet(space.spec, counts, dynamic=False)

    def sel(g: int) -> Selection:
        return None if g == INPUT else sels[g]

    for sblock, dblock, bspec in zip(net.blocks, supernet.blocks, space.spec.blocks, strict=True):
        pairs = list(zip(sblock.convs, dblock.convs, bspec.convs, strict=True))
        if bspec.shortcut_conv() is not None:
            pairs.append((sblock.shortcut, dblock.shortcut, bspec.shortcut_conv()))
        for sunit, dunit, cs in pairs:
            sunit.conv = dunit.conv.to_static(sel(cs.cin), sel(cs.cout))
            sunit.bn = dunit.bn.to_static(sel(cs.cout))
    net.head = supernet.head.to_static(sel(space.spec.head_in))
    return net.to(next(supernet.parameters()).device)
