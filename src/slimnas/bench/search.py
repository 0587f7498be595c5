"""Benchmark-driven search: run a searcher on Channel-Bench-Macro and report true ranks."""

from __future__ import annotations

import random
import statistics

from slimnas.bench.cbm import bench_space, load_bench
from slimnas.errors import SlimnasError
from slimnas.search import (
    BenchmarkEvaluator,
    Budget,
    CachedEvaluator,
    check_feasible,
    get_searcher,
    load_score_table,
    parse_budget,
    true_rank,
)


def bench_search(space: str, budget: str | float, searcher: str = "evolution",
                 queries: int = 100, seeds: int = 20, scores: str | None = None,
                 init: str = "random", window: tuple[float, float] = (0.8, 1.0),
                 options: dict | None = None, path=None) -> dict:
    """S seeded searches capped at `queries` distinct architectures each.

    Scores come from the benchmark's true means, or from a score table (`scores`, e.g. a
    supernet's `slimnas score` output); ranks are always the true ranks: 1 + the number of
    benchmark architectures with flops <= budget and a strictly higher mean.
    """
    if init == "prior":
        raise SlimnasError("--init prior needs a supernet's loss records; benchmark searches "
                           "use --init random (the prior belongs to `slimnas run`)")
    if init != "random":
        raise SlimnasError(f"--init must be prior or random, got {init!r}")
    if queries < 1 or seeds < 1:
        raise SlimnasError("--queries and --seeds must be >= 1")
    ws = bench_space(space)
    bench = load_bench(space, path)
    full = bench["4444444"]["flops"]
    b = Budget(parse_budget(budget, full), window)
    check_feasible(ws, b)
    runs = []
    for seed in range(seeds):
        inner = load_score_table(scores, ws) if scores else BenchmarkEvaluator(space, path)
        evaluator = CachedEvaluator(inner, max_queries=queries)
        res = get_searcher(searcher, **(options or {})).search(
            ws, evaluator, b, random.Random(seed))
        key = ws.key(res.best)
        runs.append({"seed": seed, "arch": key, "flops": bench[key]["flops"],
                     "mean": bench[key]["mean"], "rank": true_rank(space, key, b.flops, path),
                     "queries_used": evaluator.queries})
    return {"space": space, "budget_flops": b.flops, "searcher": searcher, "queries": queries,
            "scores": scores or "benchmark means", "runs": runs,
            "median_rank": statistics.median(r["rank"] for r in runs),
            "flops_note": "flops are multiply-accumulates (MACs), as in the benchmark"}
