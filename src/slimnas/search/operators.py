"""Variation operators on width vectors: mutation, uniform crossover, +-1 neighbours.

Scalar versions serve the plain evolutionary loop; array versions produce the large
candidate pools that the surrogate ranks. Mutation redraws a gene uniformly in
[c_min, c_max], or, given per-group probabilities `probs` (a learned prior's, checked by
`gene_probs`), from that group's distribution, as the released BCNetV2 code does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.width.space import WidthSpace

# per group g: probabilities of the widths c_min[g] .. c_max[g] (non-negative, sum 1)
GeneProbs = Sequence[np.ndarray]


def gene_probs(space: WidthSpace, probs: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """`probs` checked against the space (one distribution per group, one entry per width
    c_min..c_max, finite, >= 0, positive sum) and normalised."""
    if len(probs) != space.num_groups:
        raise SlimnasError(f"the mutation prior has {len(probs)} groups, the space "
                           f"{space.num_groups}")
    out = []
    for g, p in enumerate(probs):
        p = np.asarray(p, dtype=float)
        size = space.c_max[g] - space.c_min[g] + 1
        if p.shape != (size,) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
            raise SlimnasError(f"the mutation prior of group {g} must be {size} non-negative "
                               f"probabilities, got {p.tolist()}")
        out.append(p / p.sum())
    return out


def mutate(space: WidthSpace, parent: Sequence[int], rng: random.Random,
           prob: float, probs: GeneProbs | None = None) -> tuple[int, ...]:
    """Resample each gene with probability `prob`: uniformly in [c_min, c_max], or from
    `probs` (see `gene_probs`) when given."""
    if probs is None:
        return tuple(rng.randint(lo, hi) if rng.random() < prob else v
                     for v, lo, hi in zip(parent, space.c_min, space.c_max, strict=True))
    return tuple(_draw(p, lo, rng) if rng.random() < prob else v
                 for v, lo, p in zip(parent, space.c_min, probs, strict=True))


def _draw(p: np.ndarray, lo: int, rng: random.Random) -> int:
    """One width c_min + i with probability p[i]."""
    i = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
    return lo + min(i, len(p) - 1)


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
                 prob: float, probs: GeneProbs | None = None) -> np.ndarray:
    """n mutants of random rows of `parents`, each gene resampled with probability `prob`
    (uniformly, or from `probs` when given) and at least one gene resampled in each."""
    lo = np.asarray(space.c_min)
    hi = np.asarray(space.c_max)
    base = parents[gen.integers(0, len(parents), size=n)]
    mask = gen.random(base.shape) < prob
    # force one resampled gene per child so the pool is not full of clones
    mask[np.arange(n), gen.integers(0, base.shape[1], size=n)] = True
    if probs is None:
        fresh = gen.integers(lo, hi + 1, size=base.shape)
    else:
        fresh = np.stack([lo[g] + gen.choice(len(p), size=n, p=p)
                          for g, p in enumerate(probs)], axis=1).astype(base.dtype, copy=False)
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
