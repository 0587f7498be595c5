"""Why does slimnas' search not beat uniform scaling by more? Bounded diagnostics for
vs_alternatives.py (issue 15), at budget 0.3 of the full width's MACs, where the full-width
network is furthest above uniform scaling (the most room a search could win).

Two questions, each on vs_alternatives' own seeds, supernets, data and training recipe
(so its units are reused, never redone):
  spread   Is there anything to find? K more random widths of the window [0.9, 1.0] x
           budget (seeded apart from vs_alternatives' `random`), trained from scratch with
           the recipe. With the seed's own `random`, K + 1 random in-window widths: their
           retrained accuracy's spread (best - worst; one training each, so seed noise is
           in it) against uniform scaling and the search's winner, and the Kendall tau of
           their bcnetv2 supernet scores against their retrained accuracy (an unselected
           sample: whether the supernet sees what differences there are).
  queries  Does a longer search help? Evolution from the prior with 4x the queries (240,
           the 60-query run's scores reused: a score is a deterministic function of the
           supernet and the width) against the 60-query run on the same supernet (redone
           for seed 0, whose 0.3 winner came from another machine's supernet); each
           winner's supernet score and retrained accuracy.
Units go to vs_alternatives_runs/seed-S/ as why-*.json and search-evolution-q240-0.3.json.
Results: benchmarks/results/search_why.json, rewritten after every unit.

    python benchmarks/search_why.py [--seeds 0,1,2] [--k 5] [--threads 1]
    python benchmarks/search_why.py --report
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import statistics
import sys
from pathlib import Path

import torch

from slimnas.io import atomic_write_json, read_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BUDGET = 0.3
LONG_QUERIES = 240


def _study():
    spec = importlib.util.spec_from_file_location("vs_alternatives",
                                                  HERE / "vs_alternatives.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vs_alternatives"] = mod
    spec.loader.exec_module(mod)
    return mod


def _budget(va, space):
    from slimnas.search.budget import Budget
    from slimnas.search.costs import flops_of

    return Budget(round(BUDGET * flops_of(space, space.max_widths())), va.WINDOW)


def run_seed(va, args, seed: int) -> None:
    from slimnas.search.sampling import LegalSampler

    s = va.Seed(args, seed)
    if not (s.dir / "supernet-bcnetv2" / "cpu_seconds.json").is_file():
        va.log(f"seed {seed}: vs_alternatives' bcnetv2 supernet is not finished; skipped")
        return
    loaded, _ = s.supernet("bcnetv2")
    space = loaded.ctx.space
    budget = _budget(va, space)
    b = f"b{BUDGET}"
    scorer = va.ReplayScorer(loaded.scorer, s.dir / f"why-{b}.scores.json")

    def scratch(widths, **extra):
        net, info = s.scratch(widths)
        return net, None, {**info, **extra}

    # vs_alternatives' own units, made by it (never here: it may be running beside)
    need = [s.dir / f"{b}-{m}.json" for m in ("search-scratch", "random", "uniform")]
    if not all(f.is_file() for f in need):
        va.log(f"seed {seed}: vs_alternatives has not finished its {BUDGET} search-scratch, "
               "random and uniform networks; skipped")
        return
    taken = set()
    for f in need[:2]:
        w = tuple(read_json(f)["widths"])
        scorer.score(w)  # kept for the tau below
        taken.add(w)
    picks = LegalSampler(space, budget).sample(random.Random(1000 + seed), args.k, taken)
    for i, w in enumerate(picks):
        score = scorer.score(w)
        s.network(f"why-{b}-random-{i}", lambda w=w, score=score: scratch(
            w, supernet_score=score), budget, then_report=False)
        report(va, args)

    # the searches on this seed's supernet: 60 queries (as vs_alternatives ran it; seed 0's
    # 0.3 winner was imported from a run on another machine, whose supernet differed in its
    # last bits) and LONG_QUERIES, whose scores start from the 60-query run's
    trained = {tuple(read_json(need[0])["widths"])}
    for queries in (va.QUERIES, LONG_QUERIES):
        if queries == LONG_QUERIES:
            kept = s.dir / f"search-evolution-{BUDGET}.scores.json"
            longer = s.dir / f"search-evolution-q{LONG_QUERIES}-{BUDGET}.scores.json"
            if kept.is_file() and not longer.is_file():
                shutil.copyfile(kept, longer)
        found = s.search("evolution", BUDGET, queries=queries)
        w = tuple(found["widths"])
        if w not in trained:
            s.network(f"why-{b}-search-q{queries}", lambda w=w: scratch(
                w, supernet_score=scorer.score(w)), budget, then_report=False)
            trained.add(w)
        else:
            scorer.score(w)
        report(va, args)


def _searched(va, sdir: Path, b: str, queries: int, scores: dict) -> dict | None:
    """What the `queries` search on the seed's supernet found, and its retrained top-1
    (vs_alternatives' search-scratch when the winner is the same)."""
    tag = "" if queries == va.QUERIES else f"-q{queries}"
    f = sdir / f"search-evolution{tag}-{BUDGET}.json"
    if not f.is_file():
        return None
    found = read_json(f)
    top1 = None
    for name in (f"why-{b}-search-q{va.QUERIES}", f"why-{b}-search-q{LONG_QUERIES}",
                 f"{b}-search-scratch"):
        g = sdir / f"{name}.json"
        if g.is_file() and read_json(g)["widths"] == found["widths"]:
            top1 = read_json(g)["test_top1"]
    return {"key": found["key"], "queries": found["queries"], "macs": found["flops_macs"],
            "supernet_score": scores.get(",".join(map(str, found["widths"]))),
            "test_top1": top1, "cpu_s": found["cpu_s"]}


def report(va, args) -> dict:
    """Gather what is done into search_why.json."""
    from scipy.stats import kendalltau

    b = f"b{BUDGET}"
    out = {"benchmark": "why the search does not pay more (issue 15)", "budget": BUDGET,
           "machine": va.machine(), "k": args.k, "long_queries": LONG_QUERIES,
           "command": "python benchmarks/search_why.py", "seeds": {}}
    for sdir in sorted(Path(args.dir).glob("seed-*")):
        seed = sdir.name.split("-")[1]
        scores_file = sdir / f"why-{b}.scores.json"
        scores = read_json(scores_file)["scores"] if scores_file.is_file() else {}

        def unit(name, sdir=sdir):
            f = sdir / f"{name}.json"
            return read_json(f) if f.is_file() else None

        base = {m: unit(f"{b}-{m}") for m in ("search-scratch", "random", "uniform")}
        extra = sorted(sdir.glob(f"why-{b}-random-*.json"))
        if not extra or not all(base.values()):
            continue
        widths = [base["random"]] + [read_json(f) for f in extra]
        accs = [w["test_top1"] for w in widths]
        ours = base["search-scratch"]["test_top1"]

        def scored(w, scores=scores):
            return scores.get(",".join(map(str, w["widths"])))

        row = {"random_widths": [{"key": w["key"], "test_top1": w["test_top1"],
                                  "macs": w["macs"], "supernet_score": scored(w)}
                                 for w in widths],
               "n": len(widths), "best": max(accs), "worst": min(accs),
               "spread": max(accs) - min(accs), "median": statistics.median(accs),
               "search_scratch": ours, "uniform": base["uniform"]["test_top1"],
               "best_minus_uniform": max(accs) - base["uniform"]["test_top1"],
               "search_above_randoms": sum(ours > a for a in accs)}
        paired = [(scored(w), w["test_top1"]) for w in widths if scored(w) is not None]
        if len(paired) >= 3:
            tau = kendalltau(*zip(*paired, strict=True))
            row.update(tau_score_vs_top1=float(tau.statistic), tau_n=len(paired))
        row["searches"] = {q: _searched(va, sdir, b, q, scores)
                           for q in (va.QUERIES, LONG_QUERIES)}
        out["seeds"][seed] = row
    rows = list(out["seeds"].values())
    if rows:
        out["summary"] = {
            "n_seeds": len(rows),
            "spread_mean": statistics.fmean(r["spread"] for r in rows),
            "best_minus_uniform_mean": statistics.fmean(r["best_minus_uniform"] for r in rows),
            "search_above_randoms": [r["search_above_randoms"] for r in rows],
            "tau_mean": statistics.fmean(r["tau_score_vs_top1"] for r in rows
                                         if "tau_score_vs_top1" in r)
            if any("tau_score_vs_top1" in r for r in rows) else None}
    atomic_write_json(Path(args.why_out), out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=str(RESULTS / "vs_alternatives_runs"))
    ap.add_argument("--root", default=None, help="Fashion-MNIST IDX directory")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--k", type=int, default=5, help="random widths per seed besides "
                    "vs_alternatives' own")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--why-out", default=str(RESULTS / "search_why.json"))
    ap.add_argument("--report", action="store_true", help="only rewrite the JSON")
    ap.add_argument("--smoke", action="store_true", help="a minutes-long check on a copy "
                    "of a seed's finished units (--dir): 1 epoch on 3,000 images, 4 more "
                    "queries")
    args = ap.parse_args()
    if args.k < 1:
        ap.error("--k must be at least 1")
    torch.set_num_threads(args.threads)
    va = _study()
    if args.smoke:
        global LONG_QUERIES
        va.EPOCHS, va.SUBSET, va.HELD_OUT = 1, 3000, 500
        va.QUERIES, LONG_QUERIES = 4, 6
    if not args.report:
        for seed in (int(x) for x in args.seeds.split(",") if x):
            run_seed(va, args, seed)
    res = report(va, args)
    for seed, row in res["seeds"].items():
        va.log(f"seed {seed}: {row['n']} random widths {row['worst']:.2f}-{row['best']:.2f} "
               f"(search {row['search_scratch']:.2f}, above {row['search_above_randoms']}; "
               f"uniform {row['uniform']:.2f}); tau {row.get('tau_score_vs_top1', float('nan')):.2f}")


if __name__ == "__main__":
    main()
