"""Search on Channel-Bench-Macro with true ranks: evolution (slimnas defaults), the authors'
plain evolution, and random search, at 100 / 300 / 1000 queries, budgets 0.25 / 0.5 / 0.75 of
the max FLOPs, both spaces, 20 seeds each. Writes JSON (default benchmarks/results/).

    python benchmarks/bench_search.py [--seeds 20] [--out benchmarks/results/bench_search.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from slimnas.bench.search import bench_search

SEARCHERS = {
    "evolution": ("evolution", {}),
    "evolution-authors": ("evolution", {"surrogate": False, "flops_aware": False,
                                        "local_search": False}),
    "random": ("random", {}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--queries", default="100,300,1000")
    ap.add_argument("--out", default="benchmarks/results/bench_search.json")
    args = ap.parse_args()
    rows = []
    for space in ("mobilenet", "resnet"):
        for budget in (0.25, 0.5, 0.75):
            for queries in (int(q) for q in args.queries.split(",")):
                for label, (name, options) in SEARCHERS.items():
                    t0 = time.perf_counter()
                    res = bench_search(space, budget, name, queries, args.seeds,
                                       options=options)
                    ranks = [r["rank"] for r in res["runs"]]
                    rows.append({"space": space, "budget": budget, "queries": queries,
                                 "searcher": label, "median_rank": res["median_rank"],
                                 "share_rank_le_3": sum(r <= 3 for r in ranks) / len(ranks),
                                 "ranks": ranks, "seconds": round(time.perf_counter() - t0, 2)})
                    print(f"{space:9s} {budget:4.2f} {queries:5d} {label:18s} median rank "
                          f"{res['median_rank']:5.1f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "bench_search", "seeds": args.seeds,
                               "rank": "1 + #archs with flops <= budget and a higher mean",
                               "rows": rows}, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
