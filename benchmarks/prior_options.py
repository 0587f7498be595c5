"""Which prior defaults to keep: slimnas' (lam 1, target 1, lr 0.1, 3000 steps, zeros) or the
released BCNetV2 code's (lam 1000, target 0.4, lr 0.01, 2000 steps, random init).

For each seed: train a small BCNetV2 supernet on Fashion-MNIST with `slimnas train-supernet`
(configs/fashion-mnist.yaml, shortened: a stratified training subset and a few epochs) into
DIR/seed-S, then score in that supernet (BN recalibration per path, left and right paths
averaged, as `slimnas run` scores) a population of N widths drawn
  slimnas   from the prior with slimnas' defaults,
  released  from the prior with the released values,
  uniform   uniformly from the same FLOPs window,
each in the window [0.8, 1.0] x budget (budget 0.5 of the full width's MACs). A prior that
finds fewer than N legal widths is filled up uniformly, as the search's initial population
is (`n_prior` says how many came from the prior; `prior_only` scores those alone).
Writes JSON (default benchmarks/results/prior_options.json) with the machine.

Resumable: a finished supernet is kept (an unfinished one resumes), every scored width is
kept in DIR/seed-S/scores.json, and a finished seed is not redone.

    python benchmarks/prior_options.py [--seeds 0,1,2] [--population 50] \
        [--dir runs/prior_options] [--subset 6400] [--held-out 400] [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from slimnas.io import atomic_write_json, load_checkpoint, read_json
from slimnas.latency import cpu_model

OPTIONS = {
    "slimnas": None,  # config.DEFAULTS["search"]["prior"], read at run time
    "released": {"lam": 1000.0, "target": 0.4, "lr": 0.01, "steps": 2000, "init": "random"},
    "uniform": None,
}
BUDGET, WINDOW = 0.5, (0.8, 1.0)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def train(seed: int, out: Path, args) -> dict:
    """Train (or resume, or keep) the seed's supernet; its wall and CPU seconds."""
    ckpt = out / "checkpoint.pt"
    if ckpt.is_file() and load_checkpoint(ckpt)["epoch"] >= args.epochs:
        return {"kept": True}
    t0, c0 = time.perf_counter(), cpu_seconds()
    cmd = [sys.executable, "-m", "slimnas", "train-supernet", "configs/fashion-mnist.yaml",
           f"seed={seed}", f"out={out}", f"data.subset={args.subset + args.held_out}",
           f"data.held_out={args.held_out}", f"train.epochs={args.epochs}",
           f"score.batch_size={args.score_batch}", f"score.recal_batches={args.recal_batches}",
           f"threads={args.threads}", "train.progress=false", "train.tensorboard=false",
           f"train.eval_every={args.epochs}"]
    if ckpt.is_file():
        cmd.append("--resume")
    subprocess.run(cmd, check=True)
    return {"kept": False, "wall_s": time.perf_counter() - t0, "cpu_s": cpu_seconds() - c0}


def populations(space, records, budget, seed: int, n: int) -> dict:
    """The three populations of n widths (and what each prior learned)."""
    from slimnas.config import DEFAULTS
    from slimnas.search.prior import PriorSampler
    from slimnas.search.sampling import LegalSampler

    uniform = LegalSampler(space, budget)
    out = {}
    for name, opts in OPTIONS.items():
        if name == "uniform":
            out[name] = {"widths": uniform.sample(random.Random(seed), n), "n_prior": 0}
            continue
        opts = dict(DEFAULTS["search"]["prior"]) if opts is None else opts
        prior = PriorSampler(space, records, budget.flops, budget.window, **opts, seed=seed)
        rng = random.Random(seed)
        drawn = prior.sample(rng, n)
        fill = uniform.sample(rng, n - len(drawn), set(drawn))  # as the initial population
        out[name] = {"widths": drawn + fill, "n_prior": len(drawn), "options": opts,
                     "expected_flops_fraction": prior.expected_flops() / budget.flops,
                     "objective": prior.objective()}
    return out


def run_seed(seed: int, out: Path, args) -> dict:
    import torch

    from slimnas.search.budget import Budget
    from slimnas.search.costs import flops_of
    from slimnas.width.checkpoint import load_supernet

    torch.set_num_threads(args.threads)
    ckpt = out / "checkpoint.pt"
    loaded = load_supernet(ckpt, recal_batches=args.recal_batches)
    space = loaded.ctx.space
    full = flops_of(space, space.max_widths())
    budget = Budget(BUDGET * full, WINDOW)
    records = load_checkpoint(ckpt)["records"]
    pops = populations(space, records, budget, seed, args.population)
    cache_path = out / "scores.json"
    scores: dict[str, float] = read_json(cache_path) if cache_path.is_file() else {}
    t0, c0 = time.perf_counter(), cpu_seconds()
    fresh = 0
    for pop in pops.values():
        for w in pop["widths"]:
            key = space.key(w)
            if key not in scores:
                scores[key] = loaded.scorer.score(w)
                fresh += 1
                if fresh % 10 == 0:
                    atomic_write_json(cache_path, scores)
    atomic_write_json(cache_path, scores)
    row = {"seed": seed, "records": len(records), "full_flops_macs": full,
           "budget_flops_macs": budget.flops, "scored": fresh,
           "scoring_wall_s": time.perf_counter() - t0, "scoring_cpu_s": cpu_seconds() - c0,
           "options": {}}
    for name, pop in pops.items():
        vals = [scores[space.key(w)] for w in pop["widths"]]
        prior_only = vals[:pop["n_prior"]]
        flops = [flops_of(space, w) / budget.flops for w in pop["widths"]]
        row["options"][name] = {
            "n": len(vals), "n_prior": pop["n_prior"], "mean_score": statistics.fmean(vals),
            "std_score": statistics.pstdev(vals), "best_score": max(vals),
            "prior_only_mean_score": statistics.fmean(prior_only) if prior_only else None,
            "mean_flops_fraction": statistics.fmean(flops),
            **{k: pop[k] for k in ("options", "expected_flops_fraction", "objective")
               if k in pop},
            "widths": [space.key(w) for w in pop["widths"]],
        }
    return row


def summary(rows: list[dict]) -> dict:
    def ms(vals: list[float]) -> dict:
        return {"mean": statistics.fmean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}

    out = {}
    for name in OPTIONS:
        opt = [r["options"][name] for r in rows]
        out[name] = {
            "mean_score": ms([o["mean_score"] for o in opt]),
            "best_score": ms([o["best_score"] for o in opt]),
            "mean_flops_fraction": ms([o["mean_flops_fraction"] for o in opt]),
            "n_prior": ms([float(o["n_prior"]) for o in opt]),
            # paired with the other populations of the same supernet
            **{f"minus_{other}": ms([o["mean_score"] - r["options"][other]["mean_score"]
                                     for o, r in zip(opt, rows, strict=True)])
               for other in ("uniform", "slimnas")},
        }
        if "expected_flops_fraction" in opt[0]:
            out[name]["expected_flops_fraction"] = ms([o["expected_flops_fraction"]
                                                       for o in opt])
    return out


def write(path: Path, settings: dict, rows: list[dict], threads: int) -> None:
    import torch

    atomic_write_json(path, {
        "benchmark": "prior_options", "settings": settings,
        "machine": {"platform": platform.platform(), "cpu_model": cpu_model(),
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "torch_threads": threads},
        "runs": rows, "summary": summary(rows) if rows else {}})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--dir", default="runs/prior_options")
    ap.add_argument("--out", default="benchmarks/results/prior_options.json")
    ap.add_argument("--subset", type=int, default=6400, help="training images per supernet")
    ap.add_argument("--held-out", type=int, default=400, help="held-out images for scoring")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--recal-batches", type=int, default=1)
    ap.add_argument("--score-batch", type=int, default=256, help="score.batch_size")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out_path = Path(args.out)
    done = read_json(out_path) if out_path.is_file() else {}
    settings = {k: getattr(args, k) for k in ("population", "subset", "held_out", "epochs",
                                              "recal_batches", "score_batch", "threads")}
    settings.update(budget=BUDGET, window=list(WINDOW), config="configs/fashion-mnist.yaml",
                    data="fashion-mnist")
    rows = {r["seed"]: r for r in done.get("runs", [])} if done.get("settings") == settings \
        else {}
    for seed in seeds:
        if seed in rows:
            print(f"seed {seed}: finished earlier, kept", flush=True)
            continue
        out = Path(args.dir) / f"seed-{seed}"
        timing = train(seed, out, args)
        row = run_seed(seed, out, args)
        row["training"] = timing
        rows[seed] = row
        print(f"seed {seed}: " + " | ".join(
            f"{k} {o['mean_score']:.2f} (n_prior {o['n_prior']}, flops {o['mean_flops_fraction']:.3f})"
            for k, o in row["options"].items()), flush=True)
        write(out_path, settings, [rows[s] for s in sorted(rows)], args.threads)
    ordered = [rows[s] for s in seeds if s in rows]
    write(out_path, settings, [rows[s] for s in sorted(rows)], args.threads)
    for name, s in summary(ordered).items():
        print(f"{name:9s} score {s['mean_score']['mean']:.2f} +- {s['mean_score']['std']:.2f}"
              f"  minus uniform {s['minus_uniform']['mean']:+.2f} +- "
              f"{s['minus_uniform']['std']:.2f}  minus slimnas {s['minus_slimnas']['mean']:+.2f}"
              f" +- {s['minus_slimnas']['std']:.2f}  flops {s['mean_flops_fraction']['mean']:.3f}"
              f"  n_prior {s['n_prior']['mean']:.1f}")
    print(f"-> {out_path}")


if __name__ == "__main__":
    main()
