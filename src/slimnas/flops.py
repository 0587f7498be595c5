"""Closed-form FLOPs and params of a network as a function of its group channel counts.

Convention (the width-search papers' and Channel-Bench-Macro's): "FLOPs" are
multiply-accumulates (MACs) of every conv plus the final Linear; BN, activations,
adds, pooling and biases are not counted. Params count every parameter (conv weights,
BN gamma/beta, Linear weight and bias). Both are bilinear in the channel counts, so a
`CostModel` compiled once from the `NetSpec` evaluates a width vector in microseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slimnas.width.spec import NONE, NetSpec

__all__ = ["NONE", "CostModel", "cost_model", "width_costs"]


@dataclass(frozen=True)
class _Form:
    const: int
    terms: tuple[tuple[int, int, int], ...]  # (coef, a, b)

    def __call__(self, ch: Sequence[int]) -> int:
        total = self.const
        for coef, a, b in self.terms:
            v = coef
            if a != NONE:
                v *= ch[a]
            if b != NONE:
                v *= ch[b]
            total += v
        return total

    def batch(self, ch: np.ndarray) -> np.ndarray:
        ch = np.asarray(ch, dtype=np.int64)
        ones = np.ones(len(ch), dtype=np.int64)
        total = np.full(len(ch), self.const, dtype=np.int64)
        for coef, a, b in self.terms:
            total += coef * (ch[:, a] if a != NONE else ones) * (ch[:, b] if b != NONE else ones)
        return total


class CostModel:
    """`macs(channels)` and `params(channels)` of one network; `channels` per group.

    Built from the spec's `cost_terms()`: any spec that states its MACs and params as
    bilinear terms in its group widths (a `NetSpec`, a traced user model) gets one."""

    def __init__(self, spec):
        self.spec = spec
        macs, params, params_const = spec.cost_terms()
        self._macs = _Form(0, tuple(macs))
        self._params = _Form(params_const, tuple(params))
        # widths that follow a group's (a traced squeeze-excitation's hidden width):
        # index num_groups + j is ceil(ch[g] * num / den)
        self._derived = tuple(getattr(spec, "derived_channels", list)())
        self._n = len(spec.base_channels)

    def extend(self, channels):
        """`channels` (one vector, or an (N, G) array) followed by the follower widths:
        index num_groups + j is ceil(ch[g] * num / den) of `spec.derived_channels()[j]`."""
        return self._extend(channels)

    def _extend(self, channels):
        if not self._derived:
            return channels
        if isinstance(channels, np.ndarray):
            extra = [-(-channels[:, g] * num // den) for g, num, den in self._derived]
            return np.concatenate([channels, np.stack(extra, axis=1)], axis=1)
        return [*channels, *(-(-channels[g] * num // den) for g, num, den in self._derived)]

    def macs(self, channels: Sequence[int]) -> int:
        return self._macs(self._extend(channels))

    def params(self, channels: Sequence[int]) -> int:
        return self._params(self._extend(channels))

    def macs_batch(self, channels: np.ndarray) -> np.ndarray:
        return self._macs.batch(self._extend(np.asarray(channels, dtype=np.int64)))

    def params_batch(self, channels: np.ndarray) -> np.ndarray:
        return self._params.batch(self._extend(np.asarray(channels, dtype=np.int64)))

    def params_form(self) -> tuple[int, tuple[tuple[int, int, int], ...]]:
        """(constant, (coef, a, b) terms) of the params: indices as in `cost_terms`, a
        follower's width at num_groups + j (`spec.derived_channels()[j]`)."""
        return self._params.const, self._params.terms

    def pair_terms(self) -> tuple[tuple[float, int, int], ...]:
        """MACs as (coef, group_a, group_b) terms (NONE for a constant factor); a follower
        width counts as its group's times channels / C (linearised: the prior's gradient)."""
        def group(idx: int) -> tuple[int, float]:  # (group index, factor of its width)
            if idx < self._n:
                return idx, 1.0
            g, num, den = self._derived[idx - self._n]
            return g, num / den

        out = []
        for coef, a, b in self._macs.terms:
            (ga, fa), (gb, fb) = group(a), group(b)
            out.append((coef if fa == fb == 1.0 else coef * fa * fb, ga, gb))
        return tuple(out)


def width_costs(space, widths: Sequence[int]) -> dict:
    """{"flops_macs", "params"} of a width vector (left-path channel counts)."""
    model = cost_model(space.spec)
    ch = space.channels_of(widths)
    return {"flops_macs": model.macs(ch), "params": model.params(ch)}


@functools.lru_cache(maxsize=64)
def cost_model(spec: NetSpec) -> CostModel:  # or any hashable spec with cost_terms()
    """The (cached) cost model of a spec; equal specs share one."""
    return CostModel(spec)
