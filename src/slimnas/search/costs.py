"""FLOPs (multiply-accumulates) of width vectors, one at a time or as a numpy batch.

Every searcher measures candidates with these two functions, so the budget window
and the history always agree with `slimnas.flops` (the left-path channel counts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slimnas.flops import cost_model
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
