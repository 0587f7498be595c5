"""The main job over several seeds, and the prior initial population against a uniform one.

For each seed: `slimnas run seed=S out=DIR/seed-S` (skipped when DIR/seed-S/result.json
exists, resumed when its supernet is unfinished), then, on that run's supernet, the mean
supernet score of an initial population of N widths drawn from the prior (learned from the
supernet's lowest-loss records) against N drawn uniformly from the same FLOPs window.
Writes JSON (default benchmarks/results/main_job.json).

    python benchmarks/main_job.py [--seeds 0,1,2] [--population 50] [--dir runs/main-job]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from slimnas.io import atomic_write_json, load_checkpoint, read_json


def run_seed(seed: int, out: Path, extra: list[str]) -> dict:
    if not (out / "result.json").is_file():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "slimnas", "run", f"seed={seed}", f"out={out}",
                        "train.progress=false", *extra], check=True)
        print(f"seed {seed}: slimnas run took {time.perf_counter() - t0:.0f} s", flush=True)
    return read_json(out / "result.json")


def init_population(out: Path, seed: int, n: int) -> dict:
    """Mean supernet score of n prior-sampled widths vs n uniform legal widths."""
    from slimnas.pipeline import prior_sampler
    from slimnas.search.budget import Budget
    from slimnas.search.costs import flops_of
    from slimnas.search.sampling import LegalSampler
    from slimnas.width.checkpoint import load_supernet

    ckpt = out / "supernet" / "checkpoint.pt"
    loaded = load_supernet(ckpt)
    space, cfg = loaded.ctx.space, loaded.cfg
    search = read_json(out / "search.json")
    budget = Budget(search["budget_flops_macs"], tuple(search["window"]))
    records = load_checkpoint(ckpt)["records"]
    prior = prior_sampler(cfg, space, records, budget)  # the run's search.prior and seed
    pops = {"prior": prior.sample(random.Random(seed), n),
            "uniform": LegalSampler(space, budget).sample(random.Random(seed), n)}
    out_rows = {}
    for name, pop in pops.items():
        scores = [loaded.scorer.score(w) for w in pop]
        flops = [flops_of(space, w) for w in pop]
        out_rows[name] = {"n": len(pop), "mean_score": statistics.fmean(scores),
                          "std_score": statistics.pstdev(scores), "best_score": max(scores),
                          "mean_flops_fraction": statistics.fmean(flops) / budget.flops}
    out_rows["records"] = len(records)
    out_rows["prior"]["options"] = cfg["search"]["prior"]
    return out_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--dir", default="runs/main-job")
    ap.add_argument("--out", default="benchmarks/results/main_job.json")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides for slimnas run")
    args = ap.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        out = Path(args.dir) / f"seed-{seed}"
        res = run_seed(seed, out, args.overrides)
        pop = init_population(out, seed, args.population)
        rows.append({
            "seed": seed,
            "winner": {k: res["winner"][k] for k in ("key", "flops_macs", "params",
                                                     "supernet_score", "test_top1_inherited",
                                                     "test_top1_retrained")},
            "uniform": {k: res["uniform"][k] for k in ("key", "flops_macs", "params",
                                                       "supernet_score", "test_top1_inherited",
                                                       "test_top1_retrained")},
            "budget_flops_macs": res["budget_flops_macs"], "queries": res["queries"],
            "initial_population": pop,
        })
        w, u = rows[-1]["winner"], rows[-1]["uniform"]
        print(f"seed {seed}: winner {w['key']} {w['test_top1_retrained']:.2f}% | uniform "
              f"{u['key']} {u['test_top1_retrained']:.2f}% | init mean score prior "
              f"{pop['prior']['mean_score']:.2f} uniform {pop['uniform']['mean_score']:.2f}",
              flush=True)

    def mean(path: list[str]) -> float:
        vals = []
        for r in rows:
            v = r
            for p in path:
                v = v[p]
            vals.append(v)
        return statistics.fmean(vals)

    summary = {
        "winner_test_top1_retrained": mean(["winner", "test_top1_retrained"]),
        "uniform_test_top1_retrained": mean(["uniform", "test_top1_retrained"]),
        "winner_flops_macs": mean(["winner", "flops_macs"]),
        "uniform_flops_macs": mean(["uniform", "flops_macs"]),
        "init_prior_mean_score": mean(["initial_population", "prior", "mean_score"]),
        "init_uniform_mean_score": mean(["initial_population", "uniform", "mean_score"]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, {"benchmark": "main_job", "overrides": args.overrides,
                            "population": args.population, "runs": rows, "mean": summary})
    print(json.dumps(summary, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
