"""Variation operators on width vectors: mutation, uniform crossover, +-1 neighbours.

Scalar versions serve the plain evolutionary loop; array versions produce the large
candidate pools that the surrogate ranks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from slimnas.width.space import WidthSpace


def mutate(space: WidthSpace, parent: Sequence[int], rng: random.Random,
           prob: float) -> tuple[int, ...]:
    """Resample each gene uniformly in [c_min, c_max] with probability `prob`."""
    return tuple(rng.randint(lo, hi) if rng.random() < prob else v
                 for v, lo, hi in zip(parent, space.c_min, space.c_max, strict=True))


def crossover(a: Sequence[int], b: Sequence[int], rng: random.Random) -> tuple[int, ...]:
    """Uniform crossover: each gene from `a` or `b` with probability 1/2."""
    return tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b, strict=True))


def neighbours(space: WidthSpace, widths: Sequence[int]) -> list[tuple[int, ...]]:
    """Every vector one bin wider or narrower in exactly one group (inside [c_min, c_max])."""
    out = []
    for g, v in enumerate(widths):
        for d in (-1, 1):
            if space.c_min[g] <= v + d <= space.c_max[g]:
                w = list(widths)
                w[g] = v + d
                out.append(tuple(w))
    return out


def mutate_array(space: WidthSpace, parents: np.ndarray, n: int, gen: np.random.Generator,
                 prob: float) -> np.ndarray:
    """n mutants of random rows of `parents`; at least one gene changes in each."""
    lo = np.asarray(space.c_min)
    hi = np.asarray(space.c_max)
    base = parents[gen.integers(0, len(parents), size=n)]
    mask = gen.random(base.shape) < prob
    # force one resampled gene per child so the pool is not full of clones
    mask[np.arange(n), gen.integers(0, base.shape[1], size=n)] = True
    fresh = gen.integers(lo, hi + 1, size=base.shape)
    return np.where(mask, fresh, base)


def crossover_array(parents: np.ndarray, n: int, gen: np.random.Generator) -> np.ndarray:
    """n uniform crossovers of two distinct random rows of `parents` (when there are two)."""
    i = gen.integers(0, len(parents), size=n)
    shift = gen.integers(1, len(parents), size=n) if len(parents) > 1 else np.zeros(n, int)
    j = (i + shift) % len(parents)
    mask = gen.random((n, parents.shape[1])) < 0.5
    return np.where(mask, parents[i], parents[j])


def neighbours_array(space: WidthSpace, parents: np.ndarray) -> np.ndarray:
    """All +-1 single-group moves of every row of `parents` (inside [c_min, c_max])."""
    rows = [np.asarray(w) for p in parents for w in neighbours(space, tuple(int(v) for v in p))]
    return np.array(rows, dtype=np.int64).reshape(-1, space.num_groups)
