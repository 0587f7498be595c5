"""Ranks in a benchmark: the true rank of one architecture under a FLOPs budget, and how
well a score table ranks Channel-Bench-Macro architectures (ALGORITHMS.md 2 (b)).

Kendall tau-b and Spearman (scipy.stats) of the scores against the true mean accuracies,
over the entries present and over those without a '1' digit (no group at its narrowest
width), beside the same statistics of FLOPs alone on the same entries: a width evaluator
that ranks worse than FLOPs has learned nothing. Score files from elsewhere may miss
entries or use integer keys. A `bench build` file is read with its meta's space.

True ranks are among the file's entries: all of Channel-Bench-Macro, or only the built
architectures of a `bench build` file (whose keys its `<file>.meta.json` space reads).
"""

from __future__ import annotations

import math
import os

import numpy as np

from slimnas.bench.cbm import bench_space, open_bench
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


def read_score_table(path: str | os.PathLike, space: str = "mobilenet",
                     bench_path: str | os.PathLike | None = None) -> dict[str, float]:
    """{key: score} from a JSON file of key -> number (or -> {"score"|"mean": number}),
    parsed by the search wing's score-table reader: 7-digit keys (both Channel-Bench-Macro
    spaces share the key format), or keys of the space of the built file `bench_path`."""
    from slimnas.search.evaluators import load_score_table

    ws = bench_space(space) if bench_path is None else open_bench(space, bench_path).space
    return {ws.key(w): v for w, v in load_score_table(path, ws).table.items()}


def _correlations(scores: np.ndarray, truth: np.ndarray) -> dict:
    from scipy import stats  # ~1 s to import: only when correlations are computed

    if len(scores) < 2:
        return {"kendall_tau": None, "spearman": None, "n": int(len(scores))}
    tau = stats.kendalltau(scores, truth, variant="b").statistic
    rho = stats.spearmanr(scores, truth).statistic
    return {"kendall_tau": _finite(tau), "spearman": _finite(rho), "n": int(len(scores))}


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None  # constant scores: no correlation defined


def rank_correlation(space: str, scores: dict[str, float], path=None) -> dict:
    """{"all": {...}, "no_ones": {...}, "flops_alone": {"all": {...}, "no_ones": {...}},
    "missing": number of benchmark entries the table lacks}."""
    bf = open_bench(space, path)
    bench = bf.entries
    unknown = sorted(set(scores) - set(bench))
    if unknown:
        raise SlimnasError(f"{len(unknown)} keys are not in the benchmark, e.g. {unknown[0]}")
    keys = sorted(scores)
    s = np.array([scores[k] for k in keys])
    truth = np.array([bench[k]["mean"] for k in keys])
    flops = np.array([bench[k]["flops"] for k in keys], dtype=float)
    no_ones = np.all(bf.widths(keys) > np.asarray(bf.space.c_min), axis=1)
    return {
        "space": space,
        "all": _correlations(s, truth),
        "no_ones": _correlations(s[no_ones], truth[no_ones]),
        "flops_alone": {
            "all": _correlations(flops, truth),
            "no_ones": _correlations(flops[no_ones], truth[no_ones]),
        },
        "missing": len(bench) - len(keys),
    }
