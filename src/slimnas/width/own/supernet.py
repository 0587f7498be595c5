"""The user's own module as a supernet, and any of its paths as a plain copy of it.

`OwnSupernet(model, spec, channels)` deep-copies the model and swaps its traced Conv2d /
BatchNorm2d / Linear for slim layers; `forward(x, path)` (per-group channel selections, as
`width.net.selections` makes them) sets every layer's active channels, then runs the
model's own `forward`. A group may be wider in the supernet than in the model (BCNetV2's
enlarged supernet): the model's trained weights fill the first channels, the extra ones
start as a fresh layer would (Kaiming-normal convs, BN weight 1 and bias 0, Linear rows of
torch's default init), so a trained model is inherited, never overwritten.

`extract_own(supernet, path_selections)` freezes one path into a deep copy of the model
with plain layers of the chosen channels and their inherited weights.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from slimnas.width.dynamic import Selection
from slimnas.width.own.layers import SlimBatchNorm2d, slim_layer
from slimnas.width.own.trace import Layer, TracedSpec

Path = tuple[Selection, ...]


class OwnSupernet(nn.Module):
    def __init__(self, model: nn.Module, spec: TracedSpec, channels: Sequence[int]):
        super().__init__()
        self.spec, self.channels = spec, tuple(channels)
        if len(self.channels) != spec.num_groups or any(
                c < b for c, b in zip(self.channels, spec.base_channels, strict=True)):
            raise ValueError("supernet channels must be at least the model's, one per group")
        self.model = copy.deepcopy(model)
        offsets = [0]
        for c in self.channels:
            offsets.append(offsets[-1] + c)
        self._fixed = offsets[-1]  # the always-active entry of the mask
        self._offsets = offsets
        self._positions: dict[tuple[str, str], torch.Tensor] = {}
        # follower dims (an SE's hidden width): (group, its channels, group's C, size)
        self._follow: dict[tuple[str, str], tuple[int, int, int, int]] = {}
        for layer in spec.layers:
            sizes = []
            for dim in ("in", "out"):
                f = spec.follower_of(layer.name, dim)
                if f is None:
                    pos = self._layer_positions(layer, dim, offsets)
                    self._positions[(layer.name, dim)] = pos
                    sizes.append(len(pos))
                else:
                    c = spec.base_channels[f.group]
                    size = -(-self.channels[f.group] * f.channels // c)
                    self._follow[(layer.name, dim)] = (f.group, f.channels, c, size)
                    sizes.append(size)
            slim = slim_layer(self.model.get_submodule(layer.name))
            _widen(slim, layer, *sizes)
            self.model.set_submodule(layer.name, slim)
        self._cache: dict[tuple, tuple[Path, dict[tuple[str, str], Selection]]] = {}
        # (slim layer, key of its input selection, key of its output selection)
        self._wiring = [(self.model.get_submodule(layer.name),
                         (layer.name, "out" if layer.kind == "depthwise" else "in"),
                         (layer.name, "out")) for layer in spec.layers]

    def _layer_positions(self, layer: Layer, dim: str, offsets: list[int]) -> torch.Tensor:
        """For each channel of the widened layer dimension, its entry in the path mask."""
        size = layer.cin if dim == "in" else layer.cout
        if layer.kind == "depthwise" and dim == "in":
            return torch.zeros(0, dtype=torch.long)  # follows its output
        pos = torch.full((size,), self._fixed, dtype=torch.long)
        extra = []
        for b in self.spec.bindings_of(layer.name, dim):
            per_root = len(b.index) // self.spec.base_channels[b.group]
            pos[list(b.index)] = torch.tensor(b.root) + offsets[b.group]
            for r in range(self.spec.base_channels[b.group], self.channels[b.group]):
                extra += [offsets[b.group] + r] * per_root  # widened: appended channels
        return torch.cat([pos, torch.tensor(extra, dtype=torch.long)])

    def layer_selections(self, path: Path | None) -> dict[tuple[str, str], Selection]:
        """Every layer dimension's active channels for `path` (None: all)."""
        if path is None:
            return {k: None for k in (*self._positions, *self._follow)}
        # an index tensor by identity: the cache holds the path, so no id is reused meanwhile
        key = tuple((s.start, s.stop) if isinstance(s, slice) else id(s) if s is not None
                    else None for s in path)
        if key not in self._cache:
            if len(self._cache) > 512:
                self._cache.clear()
            mask = torch.zeros(self._fixed + 1, dtype=torch.bool)
            mask[self._fixed] = True
            start = 0
            for c, s in zip(self.channels, path, strict=True):
                mask[start:start + c][s if s is not None else slice(None)] = True
                start += c
            sels = {k: _as_selection(mask[pos]) for k, pos in self._positions.items()}
            for k, (g, channels, c, size) in self._follow.items():
                active = int(mask[self._offsets[g]:self._offsets[g + 1]].sum())
                count = -(-active * channels // c)  # the left-most, scaled with the group
                sels[k] = None if count == size else slice(0, count)
            self._cache[key] = (path, sels)
        return self._cache[key][1]

    def forward(self, x: torch.Tensor, path: Path | None = None) -> torch.Tensor:
        sels = self.layer_selections(path)
        for module, key_in, key_out in self._wiring:
            module.sel = (sels[key_in], sels[key_out])
        return self.model(x)

    def bn_modules(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, SlimBatchNorm2d)]


def _as_selection(active: torch.Tensor) -> Selection:
    """Indices of the active channels; a slice when they are contiguous (views, faster)."""
    idx = active.nonzero().flatten()
    if len(idx) == len(active):
        return None
    if len(idx) and int(idx[-1]) - int(idx[0]) + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


@torch.no_grad()
def _widen(slim: nn.Module, layer: Layer, cin: int, cout: int) -> None:
    """Grow a slim layer's parameters to the supernet's channel counts (new ones appended)."""
    w = slim.weight
    if isinstance(slim, SlimBatchNorm2d):
        if cout > len(w):
            n = cout - len(w)
            for name, fill in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0),
                               ("running_var", 1.0)):
                t = getattr(slim, name)
                grown = torch.cat([t, t.new_full((n,), fill)])
                if isinstance(t, nn.Parameter):
                    setattr(slim, name, nn.Parameter(grown))
                else:
                    setattr(slim, name, grown)
        return
    in_now = w.shape[1] if layer.kind not in ("depthwise",) else w.shape[1]
    want_in = 1 if layer.kind == "depthwise" else cin
    if w.shape[0] == cout and in_now == want_in:
        return
    fresh = torch.empty(cout, want_in, *w.shape[2:], dtype=w.dtype, device=w.device)
    if layer.kind == "linear":
        nn.init.kaiming_uniform_(fresh, a=5 ** 0.5)  # torch's Linear default
    else:
        nn.init.kaiming_normal_(fresh, mode="fan_out", nonlinearity="relu")
    fresh[:w.shape[0], :w.shape[1]] = w
    slim.weight = nn.Parameter(fresh)
    if slim.bias is not None:
        slim.bias = nn.Parameter(torch.cat([slim.bias, slim.bias.new_zeros(cout - len(slim.bias))]))


@torch.no_grad()
def extract_own(supernet: OwnSupernet, path: Path) -> nn.Module:
    """A plain copy of the user's model holding one path's channels and weights."""
    sels = supernet.layer_selections(path)
    net = copy.deepcopy(supernet.model)
    for layer in supernet.spec.layers:
        slim = supernet.model.get_submodule(layer.name)
        out = sels[(layer.name, "out")]
        if isinstance(slim, SlimBatchNorm2d):
            net.set_submodule(layer.name, slim.to_static(out))
        else:
            sin = out if layer.kind == "depthwise" else sels[(layer.name, "in")]
            net.set_submodule(layer.name, slim.to_static(sin, out))
    return net.eval()
