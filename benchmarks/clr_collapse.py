"""Performance collapse with and without CLR: the share of parameter-free ops (skip and
pooling) in the derived genotypes of BNAS-D vs BNAS-v2-CLR and DARTS vs DARTS-CLR.

Every pair runs on the same data, seeds and epochs (the same seed gives the same initial
weights, alphas and data order, so each pair differs only in the architecture learning
rate). Resumable: each finished run is written to the result JSON at once and skipped on
a rerun; an unfinished one continues from its last epoch checkpoint under --work.

The default is a short search (8 epochs x 6 steps, C = 8, on digits) that takes about 15
minutes on one CPU thread. With ~400x fewer architecture steps than DARTS' CIFAR-10 search,
the arch lr is 10x DARTS' (3e-3) so the alphas move measurably; say so when quoting.

The BCNN runs pin `search.layout` (--layout, default compact: the layout the published
results/clr_collapse.json was run with, before `released` became the search default), so
those numbers reproduce; `--layout released` (with another --out) reruns them on the
default layout.

    python benchmarks/clr_collapse.py [--seeds 3] [--epochs 8] [--steps-per-epoch 6]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

PAIRS = (("bnas-d", "bnas-v2-clr"), ("darts", "darts-clr"))


def settings(args) -> dict:
    return {"dataset": args.dataset, "seeds": list(range(args.seeds)), "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch, "channels": args.channels,
            "batch_size": args.batch, "arch_lr": args.arch_lr, "threads": args.threads,
            "layout": args.layout}


def overrides(args, variant: str, seed: int, out: Path) -> list[str]:
    return [f"out={out}", f"variant={variant}", f"seed={seed}", f"threads={args.threads}",
            f"data.name={args.dataset}", f"search.epochs={args.epochs}",
            f"search.max_steps_per_epoch={args.steps_per_epoch}",
            f"search.channels={args.channels}", f"search.batch_size={args.batch}",
            f"search.arch_lr={args.arch_lr}", f"search.eval_every={args.epochs}",
            f"search.layout={args.layout}",
            "search.progress=false", "search.tensorboard=false"]


def cell_share(gene: list) -> float:
    from slimnas.bnas.genotype import PARAMETER_FREE

    return sum(op in PARAMETER_FREE for op, _ in gene) / len(gene)


def summarise(runs: dict) -> dict:
    out = {}
    for variant in [v for pair in PAIRS for v in pair]:
        rows = [r for r in runs.values() if r["variant"] == variant]
        if not rows:
            continue
        shares = [r["parameter_free_share"] for r in rows]
        out[variant] = {
            "runs": len(rows),
            "parameter_free_share_mean": round(statistics.mean(shares), 4),
            "parameter_free_share_stdev": round(statistics.stdev(shares), 4)
            if len(shares) > 1 else None,
            "normal_share_mean": round(statistics.mean(r["normal_share"] for r in rows), 4),
            "reduce_share_mean": round(statistics.mean(r["reduce_share"] for r in rows), 4),
            "held_out_top1_mean": round(statistics.mean(r["held_out_top1"] for r in rows), 2),
        }
    for plain, clr in PAIRS:
        seeds = sorted({r["seed"] for r in runs.values() if r["variant"] == plain}
                       & {r["seed"] for r in runs.values() if r["variant"] == clr})
        if seeds:
            diff = [runs[f"{plain}-s{s}"]["parameter_free_share"]
                    - runs[f"{clr}-s{s}"]["parameter_free_share"] for s in seeds]
            out[f"{plain} minus {clr}"] = {
                "seeds": seeds, "share_differences": [round(d, 4) for d in diff],
                "mean": round(statistics.mean(diff), 4),
                "clr_lower_in": sum(d > 0 for d in diff), "clr_higher_in": sum(d < 0 for d in diff)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps-per-epoch", type=int, default=6, help="0: full passes")
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--arch-lr", type=float, default=3e-3)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layout", choices=("compact", "released"), default="compact",
                    help="the BCNN search layout (compact: as the published results)")
    ap.add_argument("--work", default="runs/clr_collapse", help="run directories (resumable)")
    ap.add_argument("--out", default="benchmarks/results/clr_collapse.json")
    args = ap.parse_args()

    from slimnas.bnas.config import load_bnas_config
    from slimnas.bnas.genotype import Genotype
    from slimnas.bnas.search import run_search
    from slimnas.io import atomic_write_json, read_json
    from slimnas.runs import CHECKPOINT

    out, work = Path(args.out), Path(args.work)
    want = settings(args)
    result = {"what": __doc__.splitlines()[0], "settings": want, "runs": {}}
    if out.is_file():
        old = read_json(out)
        if old.get("settings") != want:
            sys.exit(f"{out} holds runs with other settings; pass another --out (and --work)")
        result["runs"] = old["runs"]
    for seed in want["seeds"]:
        for variant in [v for pair in PAIRS for v in pair]:
            key = f"{variant}-s{seed}"
            if key in result["runs"]:
                continue
            run_dir = work / key
            resume = (run_dir / CHECKPOINT).is_file()
            if run_dir.exists() and not resume:
                shutil.rmtree(run_dir)  # ours, died before its first checkpoint
            cfg = load_bnas_config(None, overrides(args, variant, seed, run_dir))
            t0 = time.time()
            summary = run_search(cfg, resume=resume)
            g = Genotype.from_json(summary["genotype"])
            result["runs"][key] = {
                "variant": variant, "seed": seed, "genotype": summary["genotype"],
                "parameter_free_share": g.parameter_free_share(),
                "normal_share": cell_share(summary["genotype"]["normal"]),
                "reduce_share": cell_share(summary["genotype"]["reduce"]),
                "held_out_top1": summary["held_out_top1"],
                "search_seconds": summary["seconds"], "wall_seconds": round(time.time() - t0, 1),
            }
            result["summary"] = summarise(result["runs"])
            atomic_write_json(out, result)
            r = result["runs"][key]
            print(f"{key:16s} parameter-free share {r['parameter_free_share']:.3f} "
                  f"(normal {r['normal_share']:.3f}, reduce {r['reduce_share']:.3f})  "
                  f"held-out {r['held_out_top1']:.1f} %  {r['wall_seconds']:.0f} s",
                  file=sys.stderr)
    result["summary"] = summarise(result["runs"])
    atomic_write_json(out, result)
    for name, row in result["summary"].items():
        print(f"{name:26s} {row}", file=sys.stderr)


if __name__ == "__main__":
    main()
