"""True rank of an architecture in Channel-Bench-Macro under a FLOPs budget."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from slimnas.errors import SlimnasError


@lru_cache(maxsize=8)
def _table(space_name: str, path: str, mtime_ns: int) -> tuple[dict[str, int], np.ndarray,
                                                                 np.ndarray]:
    # the benchmark module lives outside the search wing; import it only when used
    from slimnas.bench.cbm import load_bench

    entries = load_bench(space_name, path)
    index = {k: i for i, k in enumerate(entries)}
    flops = np.array([v["flops"] for v in entries.values()], dtype=np.float64)
    means = np.array([v["mean"] for v in entries.values()], dtype=np.float64)
    return index, flops, means


def true_rank(space_name: str, arch_key: str | int, budget_flops: float,
              path: str | os.PathLike | None = None) -> int:
    """1 + the number of benchmark architectures with flops <= budget_flops and a strictly
    higher mean accuracy than `arch_key` (1 = the best under the budget)."""
    from slimnas.bench.cbm import default_bench_file

    p = Path(path) if path is not None else default_bench_file(space_name)
    if not p.is_file():
        raise SlimnasError(f"no Channel-Bench-Macro file at {p}")
    p = p.resolve()
    index, flops, means = _table(space_name, str(p), p.stat().st_mtime_ns)
    key = str(arch_key).strip()
    if key not in index:
        raise SlimnasError(f"architecture {arch_key!r} is not in the {space_name} benchmark")
    mine = means[index[key]]
    return 1 + int(np.count_nonzero((flops <= budget_flops) & (means > mine)))
