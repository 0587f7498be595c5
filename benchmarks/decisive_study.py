"""A ranking study that can decide (README: "A ranking study that can decide", its design
fixed before any result).

    python benchmarks/decisive_study.py --stage keys      # choose the pilot's 24 widths
    python benchmarks/decisive_study.py --stage pilot     # build their truth (2 seeds), gate
    python benchmarks/decisive_study.py --stage compute   # BCNetV2 at two compute levels
    python benchmarks/decisive_study.py --stage supernets --compute 6.4e12
    python benchmarks/decisive_study.py --stage report    # statistics and the verdict

Every supernet trains with `train.compute` (the same MACs for every rule), is scored on the
truth's keys (the 5,000 held-out images, 20 recalibration batches of 128) and keeps its
scores beside its checkpoint; every stage resumes.

Space, data and recipe are those of benchmarks/vs_alternatives.py; the truth is a
`bench build` (resumable, growable) whose runs are exactly that study's from-scratch runs,
so its window widths trained from scratch at budget 0.5 are taken as known runs.
Writes benchmarks/results/decisive_study.json with `pilot`, `gate` and `verdict` sections.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

from slimnas.io import atomic_write_json, read_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vs_alternatives as va  # noqa: E402  (the space, split and recipe)

BUDGET = 0.5
PILOT_HALF = 12  # widths without a 1-bin group, and as many with one
GATE_TAU = 0.3
BUILD = {"space": "cbm-mobilenet", "options": {"width_mult": 0.25}, "data": "fashion-mnist",
         "bins": 4, "epochs": va.EPOCHS, "batch_size": va.BATCH, "lr": va.LR,
         "weight_decay": 5e-4, "train_size": va.SUBSET, "held_out": va.HELD_OUT,
         "pad": 2, "flip": True, "seed": 0}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def window_space():
    """(the plain space, every width in the budget's window as an array, their MACs)."""
    from slimnas.search.costs import all_widths_array, flops_batch, flops_of
    from slimnas.width.spaces import get_space

    space = get_space("cbm-mobilenet", bins=4, min_bins=1, width_mult=0.25, input_size=28,
                      in_channels=1, num_classes=10)
    grid = all_widths_array(space, 100_000)
    macs = flops_batch(space, grid)
    budget = BUDGET * flops_of(space, space.max_widths())
    inside = (macs >= va.WINDOW[0] * budget) & (macs <= va.WINDOW[1] * budget)
    return space, grid[inside], macs[inside]


def stratified(widths: np.ndarray, macs: np.ndarray, n: int, rng: random.Random) -> list:
    """One seeded pick from each of n equal-count MACs strata."""
    order = np.argsort(macs, kind="stable")
    return [tuple(int(v) for v in widths[rng.choice(list(part))])
            for part in np.array_split(order, n)]


def choose_keys(out: Path) -> list[str]:
    if out.is_file():
        return read_json(out)["keys"]
    space, widths, macs = window_space()
    ones = (widths == 1).any(axis=1)
    rng = random.Random(20261202)
    picks = stratified(widths[~ones], macs[~ones], PILOT_HALF, rng) + \
        stratified(widths[ones], macs[ones], PILOT_HALF, rng)
    keys = [space.key(w) for w in picks]
    atomic_write_json(out, {"keys": keys, "window_widths": int(len(widths)),
                            "without_1bin": int((~ones).sum()), "with_1bin": int(ones.sum()),
                            "budget": BUDGET, "window": list(va.WINDOW)})
    return keys


def known_runs(va_dir: Path) -> dict:
    """vs_alternatives' from-scratch window widths at budget 0.5: {key: {seed: top-1}}."""
    runs: dict = {}
    for f in sorted(va_dir.glob(f"seed-*/b{BUDGET}-*.json")):
        r = read_json(f)
        method = f.stem.split("-", 1)[1]
        if method in ("search-scratch", "random", "greedy") and r.get("in_window") \
                and "key" in r:
            seed = int(f.parent.name.split("-")[1])
            runs.setdefault(r["key"], {})[seed] = r["test_top1"]
    return runs


def gate(truth: dict, keys: list[str]) -> dict:
    from scipy.stats import kendalltau

    both = [k for k in keys if k in truth and len(truth[k]["acc"]) >= 2]
    a = [truth[k]["acc"][0] for k in both]
    b = [truth[k]["acc"][1] for k in both]
    tau = float(kendalltau(a, b)[0]) if len(both) > 2 else None
    return {"architectures": len(both), "seed0_vs_seed1_kendall_tau": tau,
            "threshold": GATE_TAU, "passed": None if tau is None else tau >= GATE_TAU}


RULES = {  # label: (rule, complementary, rule_options, train options)
    "UA": ("ua", False, {}, {}),
    "AutoSlim": ("ua", False, {}, {"sandwich": True, "inplace_distill": True}),
    "BCNet": ("bcnet", True, {}, {}),
    "BCNetV2": ("bcnetv2", True, {}, {}),
    "CafeNet": ("cafenet", False, {"offset": 1, "candidates": 4}, {}),
}


def supernet_scores(args, label: str, seed: int, compute: float, keys: list[str]) -> dict:
    """Train (or resume) one supernet at `compute` MACs and score `keys` in it (cached)."""
    from slimnas.runs import CHECKPOINT
    from slimnas.width.checkpoint import load_supernet
    from slimnas.width.train import train_supernet

    rule, complementary, options, train = RULES[label]
    out = Path(args.dir) / f"{label}-c{compute:.3g}-seed{seed}"
    cfg = va.base_config(args, seed, out, rule, compute=compute, **train)
    cfg.update({"complementary": complementary, "rule_options": dict(options)})
    ckpt, cache = out / CHECKPOINT, out / "scores.json"
    scores = read_json(cache) if cache.is_file() else {}
    if not (out / "done.json").is_file():
        log(f"supernet {label} seed {seed} at {compute:.3g} MACs "
            f"({'resume' if ckpt.is_file() else 'start'})")
        summary = train_supernet(cfg, resume=ckpt.is_file())
        atomic_write_json(out / "done.json", {"steps": summary["steps"],
                                              "compute_macs": summary["compute_macs"]})
    todo = [k for k in keys if k not in scores]
    if todo:
        loaded = load_supernet(ckpt)
        space = loaded.ctx.space
        for i, k in enumerate(todo):
            scores[k] = loaded.scorer.score(space.parse(k))
            if i % 10 == 9:
                atomic_write_json(cache, scores)
        atomic_write_json(cache, scores)
    return scores


def report(args, compute: float, seeds: int) -> dict:
    from slimnas.bench.compare import FLOPS, compare_scorers, decide

    truth = read_json(args.truth)
    keys = [k for k in truth if len(truth[k]["acc"]) >= 2]
    scores = {}
    for label in RULES:
        runs = []
        for seed in range(seeds):
            cache = Path(args.dir) / f"{label}-c{compute:.3g}-seed{seed}" / "scores.json"
            if cache.is_file():
                runs.append(read_json(cache))
        if runs:
            scores[label] = runs
    res = compare_scorers(scores, {k: truth[k]["acc"] for k in keys},
                          {k: truth[k]["flops"] for k in keys}, n_boot=args.boot)
    fair = [r for r in ("BCNet", "BCNetV2") if r in scores]
    base = [r for r in ("UA", "AutoSlim") if r in scores] + [FLOPS]
    res["decision"] = decide(res, fair, base)
    if "CafeNet" in scores:
        res["decision_cafenet"] = decide(res, ["CafeNet"], base)
    return res


def main() -> None:
    from slimnas.bench.build import build_benchmark

    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", choices=("keys", "pilot", "compute", "supernets", "report"),
                    default="pilot")
    ap.add_argument("--compute", type=float, default=6.4e12,
                    help="training MACs per supernet (--stage compute tries it and 2x)")
    ap.add_argument("--seeds", type=int, default=2, help="supernet seeds per rule")
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--dir", default="runs/decisive_study")
    ap.add_argument("--va-dir", default="runs/vs_alternatives")
    ap.add_argument("--root", default=None)
    ap.add_argument("--truth", default="benchmarks/results/decisive_truth.json")
    ap.add_argument("--out", default="benchmarks/results/decisive_study.json")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--smoke", action="store_true", help="vs_alternatives' tiny data sizes")
    args = ap.parse_args()
    if args.smoke:
        va.SUBSET, va.HELD_OUT, va.EPOCHS = 3000, 500, 1
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    keys = choose_keys(work / "pilot_keys.json")
    known = known_runs(Path(args.va_dir))
    all_keys = list(dict.fromkeys([*keys, *known]))
    log(f"pilot: {len(keys)} chosen widths + {len(all_keys) - len(keys)} from "
        f"vs_alternatives; {sum(len(v) for v in known.values())} runs known")
    if args.stage == "keys":
        return
    result = read_json(args.out) if Path(args.out).is_file() else {}
    if args.stage in ("compute", "supernets", "report"):
        keys_built = list(read_json(args.truth))
        if args.stage == "compute":
            from slimnas.bench.compare import compare_scorers

            truth = read_json(args.truth)
            levels = {}
            for c in (args.compute, 2 * args.compute):
                sc = supernet_scores(args, "BCNetV2", 0, c, keys_built)
                res = compare_scorers({"BCNetV2": [sc]}, {k: truth[k]["acc"] for k in sc},
                                      {k: truth[k]["flops"] for k in sc}, n_boot=args.boot)
                levels[f"{c:.3g}"] = res["scorers"]["BCNetV2"]
            result["compute_levels"] = levels
        elif args.stage == "supernets":
            for seed in range(args.seeds):
                for label in RULES:
                    supernet_scores(args, label, seed, args.compute, keys_built)
        else:
            result["study"] = report(args, args.compute, args.seeds)
        atomic_write_json(args.out, result)
        return
    keys_file = work / "pilot_keys.txt"
    keys_file.write_text("\n".join(all_keys) + "\n")
    res = build_benchmark(archs=None, seeds=2, out=args.truth, root=args.root,
                          keys_file=keys_file, known_runs=known, jobs=args.jobs,
                          progress=False, **BUILD)
    truth = read_json(args.truth)
    result.update({
        "benchmark": "decisive_study", "machine": va.machine() | {"python": platform.python_version()},
        "pilot": {"keys": all_keys, "chosen": keys, "from_vs_alternatives": list(known),
                  "build": res, "truth": args.truth, "recipe": BUILD},
        "gate": gate(truth, all_keys)})
    if result["gate"]["passed"] is False:
        result["verdict"] = None  # a re-pilot (16 epochs) comes first, as the design says
    atomic_write_json(args.out, result)
    log(f"gate: {result['gate']}")


if __name__ == "__main__":
    main()
