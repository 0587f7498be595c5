"""True rank of an architecture in a benchmark file under a FLOPs budget.

Ranks are among the file's entries: all of Channel-Bench-Macro, or only the built
architectures of a `bench build` file (whose keys its `<file>.meta.json` space reads).
"""

from __future__ import annotations

import os

import numpy as np

from slimnas.errors import SlimnasError

# id(entries) -> (entries, index, flops, means); entries come from the benchmark cache
_TABLES: dict[int, tuple[dict, dict[str, int], np.ndarray, np.ndarray]] = {}
_MAX_TABLES = 8


def _table(entries: dict[str, dict]) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    hit = _TABLES.get(id(entries))
    if hit is not None and hit[0] is entries:
        return hit[1:]
    index = {k: i for i, k in enumerate(entries)}
    flops = np.array([v["flops"] for v in entries.values()], dtype=np.float64)
    means = np.array([v["mean"] for v in entries.values()], dtype=np.float64)
    if len(_TABLES) >= _MAX_TABLES:
        _TABLES.pop(next(iter(_TABLES)))
    _TABLES[id(entries)] = (entries, index, flops, means)
    return index, flops, means


def true_rank(space_name: str, arch_key: str | int, budget_flops: float,
              path: str | os.PathLike | None = None) -> int:
    """1 + the number of benchmark architectures with flops <= budget_flops and a strictly
    higher mean accuracy than `arch_key` (1 = the best under the budget)."""
    # the benchmark module lives outside the search wing; import it only when used
    from slimnas.bench.cbm import open_bench

    bench = open_bench(space_name, path)  # cached by path and mtime
    index, flops, means = _table(bench.entries)
    try:
        key = bench.key(arch_key)
    except SlimnasError:
        key = None
    if key not in index:
        raise SlimnasError(f"architecture {arch_key!r} is not in the {space_name} benchmark "
                           f"({bench.path})")
    mine = means[index[key]]
    return 1 + int(np.count_nonzero((flops <= budget_flops) & (means > mine)))
