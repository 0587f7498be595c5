"""The baselines a user gets without a search, measured with slimnas' own closed-form MACs.

- `closed_form_macs(net, x)`: slimnas' MACs (convs + Linear, as `slimnas.flops`) of any
  plain CNN whatever its channel counts (a pruned one included): the net is traced as a
  user's own model and its cost model evaluated at the net's own channels.
- `uniform_scaled(full_net, m, x)`: one width multiplier for every traced channel group;
  `uniform_steps` lists every distinct such network, `widest_uniform` picks the widest
  whose MACs lie in a window.
- `tp_prune(trained_net, x, low, high, global_pruning)`: Torch-Pruning's L1-magnitude
  pruning (local or global ranking) of a trained network, its ratio found by bisection so
  that the pruned network's MACs land in the window; `reinitialised(net, seed)` gives
  that architecture fresh weights (to train it from scratch).

Every function works on copies (the caller's module is never changed) and is
deterministic: the same inputs give the same network, weights included.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from slimnas.errors import SlimnasError
from slimnas.flops import CostModel
from slimnas.width.own.trace import TracedSpec, trace_spec

__all__ = ["MAX_PRUNING_RATIO", "closed_form_macs", "reinitialised", "tp_prune",
           "uniform_scaled", "uniform_steps", "widest_uniform"]

# the most tp_prune removes of any one channel group (global ranking would otherwise empty
# a layer): every group keeps at least max(1, int(C * (1 - 0.9))) of its C channels
MAX_PRUNING_RATIO = 0.9
_LAYERS = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


def _one(example_input: torch.Tensor) -> torch.Tensor:
    if not isinstance(example_input, torch.Tensor) or example_input.ndim < 2 \
            or len(example_input) == 0:
        raise SlimnasError("example_input must be one (batch, ...) tensor of at least one "
                           "example")
    return example_input[:1]


def _trace(net: nn.Module, example_input: torch.Tensor) -> TracedSpec:
    return trace_spec(net, _one(example_input))


def _macs(spec: TracedSpec) -> int:
    # not the lru-cached `cost_model`: it would keep every traced copy of the net alive
    return int(CostModel(spec).macs(spec.base_channels))


def _window(low_macs: int, high_macs: int) -> None:
    if not (0 <= low_macs <= high_macs):
        raise SlimnasError(f"the MACs window needs 0 <= low <= high, got [{low_macs}, "
                           f"{high_macs}]")


def closed_form_macs(net: nn.Module, example_input: torch.Tensor) -> int:
    """slimnas' closed-form MACs of `net` (every conv + Linear; BN, activations, adds and
    pooling free), at the net's own channel counts, whatever they are.

    The net is traced as a user's own model (`slimnas.width.own.trace_spec`, Torch-Pruning's
    dependency graph) and the traced cost model evaluated at its full channels: no bins,
    so any channel count (a pruned net's) is exact. Equals
    `torch.utils.flop_counter.FlopCounterMode` total / 2 for conv / BN / Linear networks."""
    return _macs(_trace(net, example_input))


# -- uniform width scaling ----------------------------------------------------------------

def _scaled_counts(base: Sequence[int], multiplier: float) -> tuple[int, ...]:
    """max(1, round(multiplier * C)) of every group, halves rounded up, in exact arithmetic
    (the float's exact value), so the count never depends on float rounding."""
    m = Fraction(multiplier)
    return tuple(max(1, math.floor(m * c + Fraction(1, 2))) for c in base)


def _check_multiplier(multiplier: float) -> None:
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float) \
            or not (0 < multiplier <= 1):
        raise SlimnasError(f"the width multiplier must be in (0, 1], got {multiplier!r}")


def _fresh(net: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every Conv2d / BatchNorm2d / Linear of `net` in place, as a freshly
    constructed one (torch's defaults; BN statistics reset), from `seed`, leaving the
    global random state as it was."""
    devices = sorted({p.device.index or 0 for p in net.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for m in net.modules():
            if isinstance(m, _LAYERS):
                m.reset_parameters()
    return net


def _build_uniform(full_net: nn.Module, spec: TracedSpec, counts: Sequence[int],
                   seed: int) -> nn.Module:
    from slimnas.width.own.supernet import OwnSupernet, extract_own

    supernet = OwnSupernet(full_net, spec, spec.base_channels)
    net = extract_own(supernet, tuple(slice(0, c) for c in counts))
    return _fresh(net, seed).train(full_net.training)


def uniform_scaled(full_net: nn.Module, multiplier: float, example_input: torch.Tensor,
                   *, seed: int = 0) -> nn.Module:
    """A copy of `full_net` whose every searchable channel group (as slimnas traces it) has
    max(1, round(multiplier * C)) of its C channels, halves rounded up.

    Coupled channels stay consistent (the groups are the traced ones: a residual add's
    operands, a depthwise conv's input and output are one group; a squeeze-excitation's
    hidden width follows its group, scaled); the classifier's outputs, the input channels
    and any group slimnas keeps at full width (grouped convs, ...) keep their size, so the
    output shape is unchanged. The weights are FRESH (every conv / BN / Linear initialised
    as a new module, from `seed`): the network is meant to be trained from scratch.
    `full_net` is never changed."""
    _check_multiplier(multiplier)
    spec = _trace(full_net, example_input)
    return _build_uniform(full_net, spec, _scaled_counts(spec.base_channels, multiplier), seed)


def _steps(spec: TracedSpec) -> list[tuple[float, tuple[int, ...]]]:
    base = spec.base_channels
    # where a group of C channels gets k >= 2 of them: multiplier (k - 1/2) / C
    cuts = sorted({Fraction(2 * k - 1, 2 * c) for c in set(base) for k in range(2, c + 1)})
    edges = [Fraction(0), *cuts]
    out = []
    for i, lo in enumerate(edges):  # one multiplier from inside each run of equal counts
        m = 1.0 if i == len(edges) - 1 else float((lo + edges[i + 1]) / 2)
        out.append((m, _scaled_counts(base, m)))
    return out


def uniform_steps(full_net: nn.Module, example_input: torch.Tensor
                  ) -> list[tuple[float, tuple[int, ...], int]]:
    """Every distinct uniformly scaled network of `full_net`, narrowest first, as
    (multiplier, channels per traced group, closed-form MACs).

    The multiplier is the middle of the run of multipliers that give these channels (1.0
    for the full width), so `uniform_scaled(full_net, multiplier, ...)` rebuilds it."""
    return _uniform_steps(_trace(full_net, example_input))


def _uniform_steps(spec: TracedSpec) -> list[tuple[float, tuple[int, ...], int]]:
    steps = _steps(spec)
    if spec.num_groups == 0:
        return [(m, counts, _macs(spec)) for m, counts in steps]
    macs = CostModel(spec).macs_batch(np.array([c for _, c in steps], dtype=np.int64))
    return [(m, counts, int(v)) for (m, counts), v in zip(steps, macs, strict=True)]


def widest_uniform(full_net: nn.Module, example_input: torch.Tensor, low_macs: int,
                   high_macs: int, *, seed: int = 0) -> tuple[nn.Module, float, int]:
    """The widest uniformly scaled network (see `uniform_scaled`) whose closed-form MACs lie
    in [low_macs, high_macs]: (network with fresh weights, multiplier, MACs).

    Exact: every distinct channel vector a multiplier in (0, 1] gives is evaluated (one
    cost-model call for all), the widest in the window is taken; the multiplier returned
    is the middle of the multipliers that give it. One SlimnasError when none does."""
    _window(low_macs, high_macs)
    spec = _trace(full_net, example_input)
    steps = _uniform_steps(spec)
    inside = [i for i, (_, _, v) in enumerate(steps) if low_macs <= v <= high_macs]
    if not inside:
        below = [s for s in steps if s[2] < low_macs]
        above = [s for s in steps if s[2] > high_macs]
        near = []
        if below:
            near.append(f"multiplier {below[-1][0]:.4g} gives {below[-1][2]} (below)")
        if above:
            near.append(f"multiplier {above[0][0]:.4g} gives {above[0][2]} (above)")
        raise SlimnasError(f"no uniform width multiplier in (0, 1] gives closed-form MACs in "
                           f"[{low_macs}, {high_macs}]: " + "; ".join(near))
    m, counts, macs = steps[inside[-1]]
    return _build_uniform(full_net, spec, counts, seed), m, macs


# -- Torch-Pruning ------------------------------------------------------------------------

def _classifier(spec: TracedSpec) -> str:
    """The last conv / Linear the forward runs (whose outputs are the logits)."""
    last = [layer.name for layer in spec.layers if layer.kind in ("conv", "linear")]
    if not last:
        raise SlimnasError("the model has no conv or Linear layer to prune")
    return last[-1]


def _pruned_copy(net: nn.Module, x: torch.Tensor, ratio: float, global_pruning: bool,
                 classifier: str, max_ratio: float) -> nn.Module:
    """A deep copy of `net` pruned by Torch-Pruning at `ratio` (L1 group magnitude), no
    group keeping fewer than max(1, int(C * (1 - max_ratio))) of its C channels."""
    import torch_pruning as tp

    model = copy.deepcopy(net)
    training = model.training
    model.eval()  # tracing runs a forward: in train mode it would move BN statistics
    pruner = tp.pruner.MagnitudePruner(
        model, x, tp.importance.GroupMagnitudeImportance(p=1), global_pruning=global_pruning,
        pruning_ratio=ratio, max_pruning_ratio=max_ratio,
        ignored_layers=[model.get_submodule(classifier)])
    dg = pruner.DG
    # every group's importance before anything is pruned: what the pruner ranks by
    scores = {}
    for group in dg.get_all_groups(ignored_layers=pruner.ignored_layers,
                                   root_module_types=pruner.root_module_types):
        imp = pruner.estimate_importance(group)
        if imp is not None:
            scores[group[0].dep.target.module] = imp.detach().cpu()
    # One-shot, Torch-Pruning neither applies max_pruning_ratio nor prunes a group its
    # global threshold would empty (it leaves it at full width): let such groups through
    # and cap them here instead, keeping their most important channels.
    check = dg.check_pruning_group
    dg.check_pruning_group = lambda group: True
    try:
        with torch.no_grad():
            for group in pruner.step(interactive=True):
                dep = group[0].dep
                module, fn = dep.target.module, dep.handler
                idxs = [int(i) for i in group[0].idxs]
                count = (dg.get_out_channels if dg.is_out_channel_pruning_fn(fn)
                         else dg.get_in_channels)(module)
                keep = max(1, int(count * (1 - max_ratio)))
                if count - len(idxs) < keep:
                    imp = scores[module]
                    idxs = sorted(idxs, key=lambda i: (float(imp[i]), i))[:count - keep]
                    group = dg.get_pruning_group(module, fn, idxs)
                if idxs and check(group):
                    group.prune()
    finally:
        del dg.check_pruning_group
    return model.train(training)


def tp_prune(trained_net: nn.Module, example_input: torch.Tensor, low_macs: int,
             high_macs: int, global_pruning: bool, *, max_ratio: float = MAX_PRUNING_RATIO,
             tol: float = 1e-6) -> tuple[nn.Module, float, int]:
    """Torch-Pruning L1-magnitude channel pruning of a copy of `trained_net` whose
    closed-form MACs land in [low_macs, high_macs]: (pruned net, pruning ratio, MACs).

    `tp.pruner.MagnitudePruner` with `tp.importance.GroupMagnitudeImportance(p=1)` (each
    coupled group's channels ranked by the mean L1 norm over all its layers' weights,
    normalised by the group's mean), one shot, the classifier (the last conv / Linear) kept
    at its outputs. `global_pruning=False` removes the ratio of every group (local
    ranking); True ranks all groups' channels together and removes the ratio of all of
    them. No group loses more than `max_ratio` of its channels (nor its last one).

    The ratio is the smallest (to `tol`) whose pruned net has at most `high_macs`: the
    widest pruned net under the window's top (MACs fall with the ratio one channel at a
    time). The pruned net keeps its remaining trained weights (and BN statistics); the
    input net is never changed. One SlimnasError when the window cannot be hit."""
    _window(low_macs, high_macs)
    if not (0 < max_ratio < 1):
        raise SlimnasError(f"max_ratio must be in (0, 1), got {max_ratio!r}")
    x = _one(example_input)
    spec = _trace(trained_net, x)
    full = _macs(spec)
    if full <= high_macs:
        if full < low_macs:
            raise SlimnasError(f"the unpruned network has {full} closed-form MACs, below the "
                               f"window [{low_macs}, {high_macs}]: pruning only lowers them")
        return copy.deepcopy(trained_net), 0.0, full
    classifier = _classifier(spec)

    def prune(ratio: float) -> tuple[nn.Module, int]:
        net = _pruned_copy(trained_net, x, ratio, global_pruning, classifier, max_ratio)
        return net, closed_form_macs(net, x)

    mode = "global" if global_pruning else "local"
    best, macs = prune(max_ratio)
    if macs > high_macs:
        raise SlimnasError(f"{mode} pruning at the largest ratio {max_ratio} leaves {macs} "
                           f"closed-form MACs, above the window [{low_macs}, {high_macs}]")
    lo, hi, lo_macs = 0.0, max_ratio, full
    while hi - lo > tol:
        mid = (lo + hi) / 2
        net, value = prune(mid)
        if value <= high_macs:
            hi, best, macs = mid, net, value
        else:
            lo, lo_macs = mid, value
    if macs < low_macs:
        raise SlimnasError(f"{mode} pruning cannot hit the window [{low_macs}, {high_macs}]: "
                           f"ratio {lo:.6g} leaves {lo_macs} MACs, ratio {hi:.6g} leaves "
                           f"{macs}; widen the window")
    return best, hi, macs


def reinitialised(net: nn.Module, seed: int) -> nn.Module:
    """A deep copy of `net` with every Conv2d / BatchNorm2d / Linear initialised as a freshly
    constructed module (torch's default init, BN statistics reset) from `seed`: the same
    architecture, to train from scratch. `net` and the global random state are untouched."""
    return _fresh(copy.deepcopy(net), seed)
