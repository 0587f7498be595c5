"""FLOPs (multiply-accumulates) of width vectors, one at a time or as a numpy batch.

Every searcher measures candidates with these two functions, so the budget window
and the history always agree with `slimnas.flops` (the left-path channel counts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slimnas.flops import NONE, cost_model
from slimnas.width.space import WidthSpace


def flops_of(space: WidthSpace, widths: Sequence[int]) -> int:
    """MACs of one width vector (convs + final Linear)."""
    return int(cost_model(space.spec).macs(space.channels_of(widths)))


def channels_batch(space: WidthSpace, widths: np.ndarray) -> np.ndarray:
    """(N, G) channel counts of (N, G) width vectors: bins [0, c) of each group."""
    w = np.asarray(widths, dtype=np.int64).reshape(-1, space.num_groups)
    chans = np.asarray(space.channels, dtype=np.int64)
    bins = np.asarray(space.bins, dtype=np.int64)
    # same floor as WidthSpace.bin_range(g, 0, c)
    return w * chans // bins


def flops_batch(space: WidthSpace, widths: np.ndarray) -> np.ndarray:
    """(N,) int64 MACs of (N, G) width vectors."""
    ch = channels_batch(space, widths)
    if len(ch) == 0:
        return np.zeros(0, dtype=np.int64)
    return cost_model(space.spec).macs_batch(ch)


def all_widths_array(space: WidthSpace, limit: int) -> np.ndarray | None:
    """Every width vector as an (N, G) array, or None when the space has more than `limit`."""
    if space.size() > limit:
        return None
    axes = [np.arange(lo, hi + 1, dtype=np.int64)
            for lo, hi in zip(space.c_min, space.c_max, strict=True)]
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=1)


# --- what a budget counts: MACs (the default), params or predicted latency ----------------
class MacsCost:
    """Multiply-accumulates of convs + the final Linear (the papers' "FLOPs")."""

    name, unit, field, label = "macs", "MACs", "flops_macs", "FLOPs"

    def of(self, space: WidthSpace, widths: Sequence[int]) -> int:
        return flops_of(space, widths)

    def batch(self, space: WidthSpace, widths: np.ndarray) -> np.ndarray:
        return flops_batch(space, widths)

    def describe(self, value: float) -> str:
        return f"{value:,.0f} MACs"


class ParamsCost:
    """Parameters of the network (conv weights, BN, the Linear)."""

    name, unit, field, label = "params", "params", "params", "params"

    def of(self, space: WidthSpace, widths: Sequence[int]) -> int:
        return int(cost_model(space.spec).params(space.channels_of(widths)))

    def batch(self, space: WidthSpace, widths: np.ndarray) -> np.ndarray:
        ch = channels_batch(space, widths)
        if len(ch) == 0:
            return np.zeros(0, dtype=np.int64)
        return cost_model(space.spec).params_batch(ch)

    def form(self, space: WidthSpace) -> TermTables:
        """The params as per-group tables (exact, followers included): what the prior's
        expectation needs."""
        model = cost_model(space.spec)
        n = space.num_groups
        derived = list(getattr(space.spec, "derived_channels", list)())
        chans = [_chan_vector(space, g) for g in range(n)]

        def column(idx: int) -> tuple[int | None, np.ndarray | None]:
            if idx == NONE:
                return None, None
            if idx < n:
                return idx, chans[idx]
            g, num, den = derived[idx - n]
            return g, -(-chans[g] * num // den)

        const, params = model.params_form()
        const, terms = float(const), []
        for coef, a, b in params:
            (ga, va), (gb, vb) = column(a), column(b)
            if ga is None and gb is None:
                const += coef
            elif gb is None or ga is None:
                g, v = (ga, va) if gb is None else (gb, vb)
                terms.append(((g,), coef * v))
            elif ga == gb:
                terms.append(((ga,), coef * va * vb))
            else:
                terms.append(((ga, gb), coef * np.outer(va, vb)))
        return TermTables(space, const, terms)

    def describe(self, value: float) -> str:
        return f"{value:,.0f} params"


def _chan_vector(space: WidthSpace, g: int) -> np.ndarray:
    return np.array([space.bin_range(g, 0, w)[1] for w in range(space.c_min[g],
                                                                 space.c_max[g] + 1)],
                    dtype=float)


class TermTables:
    """cost(w) = const + sum_t T_t[w_a - c_min_a, w_b - c_min_b, ...]: every term a table over
    the widths of its groups (one or two for a conv; more where a layer reads a
    concatenation). Under independent per-group distributions p_g the expectation is exact
    (sum_t T_t contracted with p_a, p_b, ...), and so is its gradient."""

    def __init__(self, space: WidthSpace, const: float,
                 terms: list[tuple[tuple[int, ...], np.ndarray]]):
        for groups, arr in terms:
            if not groups or arr.ndim != len(groups) or len(set(groups)) != len(groups):
                raise ValueError(f"a term's table needs one axis per distinct group, got "
                                 f"{groups} for a {arr.ndim}-d table")
        self.const, self.terms = float(const), terms
        self.c_min = np.asarray(space.c_min, dtype=np.int64)
        self.num_groups = space.num_groups

    def batch(self, widths: np.ndarray) -> np.ndarray:
        idx = np.asarray(widths, dtype=np.int64).reshape(-1, self.num_groups) - self.c_min
        total = np.full(len(idx), self.const)
        for groups, arr in self.terms:
            total += arr[tuple(idx[:, g] for g in groups)]
        return total

    def expected(self, probs) -> float:
        total = self.const
        for groups, arr in self.terms:
            if len(groups) == 1:
                total += float(probs[groups[0]] @ arr)
            elif len(groups) == 2:
                total += float(probs[groups[0]] @ arr @ probs[groups[1]])
            else:
                total += float(_contract(arr, [probs[g] for g in groups], None))
        return total

    def expected_grad(self, probs) -> list[np.ndarray]:
        """d E[cost] / d p_g(w) for every group g and width w."""
        grads = [np.zeros(len(p)) for p in probs]
        for groups, arr in self.terms:
            if len(groups) == 1:
                grads[groups[0]] += arr
            elif len(groups) == 2:
                a, b = groups
                grads[a] += arr @ probs[b]
                grads[b] += probs[a] @ arr
            else:
                ps = [probs[g] for g in groups]
                for i, g in enumerate(groups):
                    grads[g] += _contract(arr, ps, i)
        return grads


def _contract(arr: np.ndarray, probs: list[np.ndarray], keep: int | None) -> np.ndarray:
    """`arr` contracted with probs[i] along every axis i but `keep`."""
    axes = "abcdefghijklmnop"[:arr.ndim]
    others = [i for i in range(arr.ndim) if i != keep]
    spec = f"{axes},{','.join(axes[i] for i in others)}->{'' if keep is None else axes[keep]}"
    return np.einsum(spec, arr, *[probs[i] for i in others])


MACS = MacsCost()
PARAMS = ParamsCost()
COSTS = ("macs", "params", "latency")
