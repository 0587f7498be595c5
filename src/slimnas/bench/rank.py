"""How well does a score table rank Channel-Bench-Macro architectures? (ALGORITHMS.md 2 (b))

Kendall tau-b and Spearman (scipy.stats) of the scores against the true mean accuracies,
over the entries present and over those without a '1' digit (no group at its narrowest
width), beside the same statistics of FLOPs alone on the same entries: a width evaluator
that ranks worse than FLOPs has learned nothing. Score files from elsewhere may miss
entries or use integer keys. A `bench build` file is read with its meta's space.
"""

from __future__ import annotations

import math
import os

import numpy as np
from scipy import stats

from slimnas.bench.cbm import bench_space, open_bench
from slimnas.errors import SlimnasError


def read_score_table(path: str | os.PathLike, space: str = "mobilenet",
                     bench_path: str | os.PathLike | None = None) -> dict[str, float]:
    """{key: score} from a JSON file of key -> number (or -> {"score"|"mean": number}),
    parsed by the search wing's score-table reader: 7-digit keys (both Channel-Bench-Macro
    spaces share the key format), or keys of the space of the built file `bench_path`."""
    from slimnas.search.evaluators import load_score_table

    ws = bench_space(space) if bench_path is None else open_bench(space, bench_path).space
    return {ws.key(w): v for w, v in load_score_table(path, ws).table.items()}


def _correlations(scores: np.ndarray, truth: np.ndarray) -> dict:
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
