"""Channel groups of a user's own CNN, found by Torch-Pruning's dependency graph.

`trace_spec(model, example_input)` runs the model once under Torch-Pruning's
`DependencyGraph` (which follows residual adds, depthwise convs, concatenations, flatten ->
Linear and squeeze-excitation gates) and once under forward hooks (each layer's output
positions), and returns a `TracedSpec`: the searchable groups, for every conv / BN / Linear
which of its channels belong to which group's channel, and MACs and params as bilinear
terms in the group widths (the same `cost_terms()` a built-in `NetSpec` states).

Channels that cannot be slimmed stay at full width and are listed with the reason: the
classifier's outputs, the image channels, groups touching a layer of an unsupported kind
(grouped convs, other normalisations, ...) and the modules the user names in `ignore`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from slimnas.errors import SlimnasError
from slimnas.width.spec import NONE

LAYERS = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


@dataclass(frozen=True)
class Binding:
    """Channels of one layer dimension that belong to a group: `index[i]` of the layer's
    `dim` ("in" or "out") is channel `root[i]` of group `group`."""

    module: str
    dim: str
    group: int
    index: tuple[int, ...]
    root: tuple[int, ...]


@dataclass(frozen=True)
class Follower:
    """A layer dimension of `channels` channels that follows group `group`'s width: its
    left-most ceil(w * channels / C) channels are active when w of the group's C are (a
    squeeze-excitation's hidden width, scaled with the channels it gates)."""

    module: str
    dim: str
    group: int
    channels: int


@dataclass(frozen=True)
class Layer:
    """A conv / BN / Linear of the model: sizes and the positions its output has per image
    (H x W for a conv, 1 for a classifier's Linear)."""

    name: str
    kind: str  # "conv", "depthwise", "grouped" (kept at full width), "bn", "linear"
    cin: int
    cout: int
    kernel_area: int = 1
    positions: int = 1
    bias: bool = False
    groups: int = 1


@dataclass(frozen=True, eq=False)  # hashed by identity: cost_model caches per spec
class TracedSpec:
    """A traced model's groups, layers and costs; `model` is the traced deep copy."""

    exact_channels = True  # a WidthSpace keeps these channel counts (the weights fix them)

    family: str
    options: dict
    group_names: tuple[str, ...]
    base_channels: tuple[int, ...]
    layers: tuple[Layer, ...]
    bindings: tuple[Binding, ...]
    frozen: tuple[str, ...]  # "what: why" of every channel set kept at full width
    in_channels: int
    input_size: int
    num_classes: int
    const_params: int = 0  # parameters outside the layers above (never slimmed)
    model: nn.Module | None = field(default=None, repr=False)
    followers: tuple[Follower, ...] = ()
    _by_layer: dict = field(default_factory=dict, repr=False)

    @property
    def num_groups(self) -> int:
        return len(self.group_names)

    def bindings_of(self, module: str, dim: str) -> list[Binding]:
        if not self._by_layer:
            for b in self.bindings:
                self._by_layer.setdefault((b.module, b.dim), []).append(b)
        return self._by_layer.get((module, dim), [])

    def check_bins(self, bins: Sequence[int]) -> None:
        """Each group of C channels splits into its K bins of a multiple of `round_to`
        channels only when K x round_to divides C: else one clear error naming it."""
        round_to = self.options.get("round_to", 1)
        for name, c, k in zip(self.group_names, self.base_channels, bins, strict=True):
            if c % (k * round_to):
                raise SlimnasError(
                    f"group {name} has {c} channels: {k} bins of a multiple of {round_to} "
                    f"channel(s) need a multiple of {k * round_to}; choose other bins or "
                    f"round_to, or keep it at full width with ignore=[{name!r}]")

    def derived_channels(self) -> list[tuple[int, int, int]]:
        """(group, channels, group's channels) of each follower width: cost terms refer to
        the j-th as index num_groups + j, worth ceil(ch[group] * channels / C)."""
        out: list[tuple[int, int, int]] = []
        for f in self.followers:
            key = (f.group, f.channels, self.base_channels[f.group])
            if key not in out:
                out.append(key)
        return out

    def follower_of(self, module: str, dim: str) -> Follower | None:
        return next((f for f in self.followers if (f.module, f.dim) == (module, dim)), None)

    def _width(self, layer: Layer, dim: str) -> list[tuple[int, int]]:
        """A layer dimension's size as terms (coef, group or NONE): sum coef * ch[group]."""
        f = self.follower_of(layer.name, dim)
        if f is not None:
            key = (f.group, f.channels, self.base_channels[f.group])
            return [(1, self.num_groups + self.derived_channels().index(key))]
        size = layer.cin if dim == "in" else layer.cout
        terms, bound = [], 0
        for b in self.bindings_of(layer.name, dim):
            per_channel = len(b.index) // self.base_channels[b.group]  # flatten: H x W each
            terms.append((per_channel, b.group))
            bound += len(b.index)
        if size > bound:
            terms.append((size - bound, NONE))
        return terms

    def layer_channels(self, layer: Layer) -> tuple[list, list]:
        """(input, output) channel counts of `layer` as terms (coef, group, NONE or a
        follower's index): sum coef * ch[index]. A BN's or depthwise conv's input is its
        output."""
        out = self._width(layer, "out")
        return (out if layer.kind in ("bn", "depthwise") else self._width(layer, "in")), out

    def cost_terms(self) -> tuple[list, list, int]:
        """(MACs terms, params terms, constant params) as `NetSpec.cost_terms`."""
        macs: list[tuple[int, int, int]] = []
        params: list[tuple[int, int, int]] = []
        for layer in self.layers:
            out = self._width(layer, "out")
            if layer.kind == "bn":
                params += [(2 * c, g, NONE) for c, g in out]
                continue
            if layer.kind == "depthwise":  # one filter per channel
                macs += [(layer.kernel_area * layer.positions * c, g, NONE) for c, g in out]
                params += [(layer.kernel_area * c, g, NONE) for c, g in out]
            else:
                for ci, gi in self._width(layer, "in"):
                    for co, go in out:  # a grouped conv is frozen: its terms are constants
                        macs.append((layer.kernel_area * layer.positions * ci * co
                                     // layer.groups, gi, go))
                        params.append((layer.kernel_area * ci * co // layer.groups, gi, go))
            if layer.bias:
                params += [(c, g, NONE) for c, g in out]
        return macs, params, self.const_params


def trace_spec(model: nn.Module, example_input: torch.Tensor, ignore: Sequence[str] = (),
               family: str = "own", options: dict | None = None, se: str = "follow"
               ) -> TracedSpec:
    """The channel groups of `model` (never changed: a deep copy is traced). `se`:
    "follow" (a squeeze-excitation's hidden width follows the width it gates, scaled) or
    "search" (its own group)."""
    if se not in ("follow", "search"):
        raise SlimnasError(f"se must be follow or search, got {se!r}")
    import torch_pruning as tp

    model = copy.deepcopy(model).eval()
    names = {m: n for n, m in model.named_modules()}
    unknown = sorted(set(ignore) - set(names.values()))
    if unknown:
        raise SlimnasError(f"ignore: the model has no module {unknown[0]!r}")
    layers, order, out_shape = _run_hooks(model, example_input)
    try:
        dg = tp.DependencyGraph().build_dependency(model, example_inputs=example_input,
                                                   verbose=False)
    except Exception as e:  # tracing failed: one line naming the cause
        raise SlimnasError(f"cannot trace the model: {type(e).__name__}: "
                           f"{' '.join(str(e).split())[:300]}") from None
    last = max((n for n in order if layers[n].kind in ("conv", "linear")), key=order.get,
               default=None)
    frozen = [f"{last}: the classifier's outputs"] if last else []
    frozen += [f"{n}: ignored" for n in ignore]
    fixed = set(ignore) | ({last} if last else set())
    groups: list[tuple[int, list[Binding]]] = []
    params = dict(model.named_parameters())
    for group in dg.get_all_groups(root_module_types=(nn.Conv2d, nn.Linear)):
        members, why = _members(group, names, params, layers, fixed)
        if why and why not in frozen:
            frozen.append(why)
        elif members:
            groups.append((_channels(members), members))
    groups.sort(key=lambda g: min(order[b.module] for b in g[1] if b.dim == "out"))
    hidden = _se_hidden(groups, layers) if se == "follow" else {}
    kept = [i for i in range(len(groups)) if i not in hidden]
    bindings, group_names, base, followers = [], [], [], []
    for g, i in enumerate(kept):
        channels, members = groups[i]
        root = min((b for b in members if b.dim == "out"), key=lambda b: order[b.module])
        group_names.append(root.module)
        base.append(channels)
        bindings += [Binding(b.module, b.dim, g, b.index, b.root) for b in members]
    for i, gated in hidden.items():
        followers += [Follower(b.module, b.dim, kept.index(gated), groups[i][0])
                      for b in groups[i][1]]
    in_layer_params = sum(p.numel() for n in layers for p in model.get_submodule(n).parameters())
    _, c, h, *_ = example_input.shape
    return TracedSpec(family, dict(options or {}), tuple(group_names), tuple(base),
                      tuple(layers[n] for n in sorted(layers, key=order.get)), tuple(bindings),
                      tuple(frozen), c, h, out_shape[-1],
                      sum(p.numel() for p in model.parameters()) - in_layer_params, model=model,
                      followers=tuple(followers))


def _se_hidden(groups: list[tuple[int, list[Binding]]], layers: dict[str, Layer]
               ) -> dict[int, int]:
    """{hidden group: the group it gates} of every squeeze-excitation: a group written by
    one layer on a pooled (1 x 1) input of group G and read by one layer whose output
    joins G again."""
    owner = {(b.module, b.dim): i for i, (_, members) in enumerate(groups) for b in members}
    out = {}
    for i, (_, members) in enumerate(groups):
        writers = [b for b in members if b.dim == "out" and layers[b.module].kind != "bn"]
        readers = [b for b in members if b.dim == "in"]
        if len(writers) != 1 or len(readers) != 1 or len(members) != 2:
            continue
        w, r = writers[0].module, readers[0].module
        if layers[w].positions != 1 or layers[r].positions != 1:
            continue
        gated = owner.get((w, "in"))
        if gated is not None and gated != i and owner.get((r, "out")) == gated:
            out[i] = gated
    return out


def _run_hooks(model: nn.Module, x: torch.Tensor):
    """(layers by name, execution order by name, the output's shape) of one forward."""
    layers: dict[str, Layer] = {}
    order: dict[str, int] = {}
    handles = []

    def hook(name):
        def record(module, inputs, output):
            order.setdefault(name, len(order))
            positions = output.numel() // (output.shape[0] * (
                output.shape[1] if not isinstance(module, nn.Linear) else output.shape[-1]))
            layers[name] = _layer(name, module, positions)
        return record

    for name, m in model.named_modules():
        if isinstance(m, LAYERS):
            handles.append(m.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:
        raise SlimnasError(f"the model fails on the example input: {type(e).__name__}: "
                           f"{' '.join(str(e).split())[:300]}") from None
    finally:
        for h in handles:
            h.remove()
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise SlimnasError("the model must return one (batch, classes) tensor of logits")
    return layers, order, tuple(out.shape)


def _layer(name: str, m: nn.Module, positions: int) -> Layer:
    if isinstance(m, nn.BatchNorm2d):
        return Layer(name, "bn", m.num_features, m.num_features)
    if isinstance(m, nn.Linear):
        return Layer(name, "linear", m.in_features, m.out_features, 1, positions,
                     m.bias is not None)
    depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
    kind = "depthwise" if depthwise else "conv" if m.groups == 1 else "grouped"
    return Layer(name, kind, m.in_channels, m.out_channels,
                 m.kernel_size[0] * m.kernel_size[1], positions, m.bias is not None,
                 1 if depthwise else m.groups)


def _members(group, names: dict, params: dict, layers: dict[str, Layer], fixed: set[str]):
    """(bindings, None) of a slimmable Torch-Pruning group, or ([], why it is frozen)."""
    members: list[Binding] = []
    for item in group.items:
        dep, index, root = item.dep, item.idxs, item.root_idxs
        module = dep.target.module
        if isinstance(module, nn.Parameter):  # e.g. x * self.scale in a forward
            name = next((n for n, q in params.items() if q is module), "a parameter")
            return [], f"{name}: a parameter used outside a layer"
        if module not in names:  # an operation (add, concat, flatten, ...), not a layer
            continue
        name = names[module]
        handler = getattr(dep.handler, "__name__", "")
        dim = "out" if handler == "prune_out_channels" else "in"
        if not isinstance(module, LAYERS) or name not in layers:
            return [], f"{name} ({type(module).__name__}): not a layer slimnas can slim"
        kind = layers[name].kind
        if kind == "grouped":
            return [], f"{name}: a grouped conv ({module.groups} groups)"
        if name in fixed and dim == "out":
            return [], ""  # already listed
        if kind == "depthwise" and dim == "in":
            continue  # a depthwise conv passes its group through: its out binding says all
        members.append(Binding(name, dim, -1, tuple(int(i) for i in index),
                               tuple(int(r) for r in root)))
    return members, None


def _channels(members: list[Binding]) -> int:
    return max(max(b.root) for b in members) + 1
