"""Benchmark-driven search: run a searcher on a benchmark file and report true ranks.

The file is Channel-Bench-Macro's, or one written by `slimnas bench build` (its
`<file>.meta.json` gives the space). Budget fractions are of the space's full-width MACs;
when the file does not hold every architecture of its space (a built file), the search
proposes and returns only the architectures in the file.
"""

from __future__ import annotations

import random
import statistics

from slimnas.bench.cbm import open_bench
from slimnas.bench.evaluator import BenchmarkEvaluator
from slimnas.bench.rank import true_rank
from slimnas.errors import SlimnasError
from slimnas.search import (
    Budget,
    CachedEvaluator,
    check_feasible,
    get_searcher,
    load_score_table,
    parse_budget,
)
from slimnas.search.members import Members


def bench_search(space: str, budget: str | float, searcher: str = "evolution",
                 queries: int = 100, seeds: int = 20, scores: str | None = None,
                 init: str = "random", window: tuple[float, float] = (0.8, 1.0),
                 options: dict | None = None, path=None) -> dict:
    """S seeded searches capped at `queries` distinct architectures each.

    Scores come from the benchmark's true means, or from a score table (`scores`, e.g. a
    supernet's `slimnas score` output); ranks are always the true ranks: 1 + the number of
    benchmark architectures with flops <= budget and a strictly higher mean. FLOPs are
    MACs (`budget_flops_macs`, `flops_macs`).
    """
    if init == "prior":
        raise SlimnasError("--init prior needs a supernet's loss records; benchmark searches "
                           "use --init random (the prior belongs to `slimnas run`)")
    if init != "random":
        raise SlimnasError(f"--init must be prior or random, got {init!r}")
    for label, v in (("--queries", queries), ("--seeds", seeds)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SlimnasError(f"{label} must be an integer >= 1, got {v!r}")
    # bad names or option values fail before any work
    needs_window = get_searcher(searcher, **(options or {})).needs_window
    bench = open_bench(space, path)
    ws = bench.space
    full = bench.full_flops()
    b = Budget(parse_budget(budget, full), window)
    members = None
    if not bench.complete():  # search only what the file holds (a built benchmark)
        members = Members(ws, bench.widths(list(bench.entries)),
                          source=f"the {len(bench.entries):,} architectures in {bench.path}")
    check_feasible(ws, b, window=needs_window, members=members)
    runs = []
    for seed in range(seeds):
        inner = load_score_table(scores, ws) if scores else BenchmarkEvaluator(space, path)
        evaluator = CachedEvaluator(inner, max_queries=queries)
        res = get_searcher(searcher, **(options or {})).search(
            ws, evaluator, b, random.Random(seed), members=members)
        key = ws.key(res.best)
        entry = bench.entries[key]
        runs.append({"seed": seed, "arch": key, "flops_macs": entry["flops"],
                     "mean": entry["mean"], "rank": true_rank(space, key, b.flops, path),
                     "queries_used": evaluator.queries})
    return {"space": space, "file": str(bench.path), "built": bench.built,
            "architectures": len(members) if members is not None else ws.size(),
            "full_flops_macs": full, "budget_flops_macs": b.flops, "searcher": searcher,
            "queries": queries, "scores": scores or "benchmark means", "runs": runs,
            "median_rank": statistics.median(r["rank"] for r in runs),
            "flops_note": "flops are multiply-accumulates (MACs), as in the benchmark"}
