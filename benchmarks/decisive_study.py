"""A ranking study that can decide (README: "A ranking study that can decide", its design
fixed before any result). This file holds the stages built so far: the pilot's keys, its
ground truth and the gate; the supernets, scoring and statistics come after the gate.

    python benchmarks/decisive_study.py --stage keys    # choose the pilot's 24 widths
    python benchmarks/decisive_study.py --stage pilot   # build their truth (2 seeds), gate

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


def main() -> None:
    from slimnas.bench.build import build_benchmark

    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", choices=("keys", "pilot"), default="pilot")
    ap.add_argument("--dir", default="runs/decisive_study")
    ap.add_argument("--va-dir", default="runs/vs_alternatives")
    ap.add_argument("--root", default=None)
    ap.add_argument("--truth", default="benchmarks/results/decisive_truth.json")
    ap.add_argument("--out", default="benchmarks/results/decisive_study.json")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    keys = choose_keys(work / "pilot_keys.json")
    known = known_runs(Path(args.va_dir))
    all_keys = list(dict.fromkeys([*keys, *known]))
    log(f"pilot: {len(keys)} chosen widths + {len(all_keys) - len(keys)} from "
        f"vs_alternatives; {sum(len(v) for v in known.values())} runs known")
    if args.stage == "keys":
        return
    keys_file = work / "pilot_keys.txt"
    keys_file.write_text("\n".join(all_keys) + "\n")
    res = build_benchmark(archs=None, seeds=2, out=args.truth, root=args.root,
                          keys_file=keys_file, known_runs=known, jobs=args.jobs,
                          progress=False, **BUILD)
    truth = read_json(args.truth)
    result = read_json(args.out) if Path(args.out).is_file() else {}
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
