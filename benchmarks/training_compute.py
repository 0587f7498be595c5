"""Training compute (MACs) of 20 epochs on digits per recipe, counted before any training.

Every step's widths follow from (seed, step), so `StepCompute` counts a run's compute
exactly without running it (the same count `log.csv`'s `compute_macs` reports).

    python benchmarks/training_compute.py   # -> benchmarks/results/training_compute.json
"""

from __future__ import annotations

import argparse
import platform

import torch

from slimnas.config import load_config
from slimnas.io import atomic_write_json
from slimnas.width.context import build_context
from slimnas.width.sampler import StepPlanner
from slimnas.width.steps import StepCompute

RECIPES = {  # label: overrides of configs/digits.yaml
    "UA": ["rule=ua", "complementary=false"],
    "AutoSlim": ["rule=ua", "complementary=false", "train.sandwich=true",
                 "train.inplace_distill=true"],
    "BCNet": ["rule=bcnet", "complementary=false"],
    "BCNet, full-net steps": ["rule=bcnet", "complementary=false", "train.full_net_every=2"],
    "BCNetV2": [],
    "BCNetV2, full-net steps": ["train.full_net_every=3"],
    "BCNetV2 + sandwich + distillation": ["train.sandwich=true", "train.inplace_distill=true"],
    "CafeNet": ["rule=cafenet", "complementary=false"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/digits.yaml")
    ap.add_argument("--out", default="benchmarks/results/training_compute.json")
    args = ap.parse_args()
    rows = {}
    for label, overrides in RECIPES.items():
        cfg = load_config(args.config, overrides)
        ctx = build_context(cfg, torch.device("cpu"))
        t = cfg["train"]
        planner = StepPlanner(ctx.space, cfg["seed"], cfg["complementary"], t["sandwich"],
                              t["sandwich_random"], t["full_net_every"], t["inplace_distill"])
        steps = len(ctx.train_x) // t["batch_size"] * t["epochs"]
        macs = StepCompute(ctx.space, ctx.rule, planner, t["batch_size"]).total(steps)
        rows[label] = {"overrides": overrides, "steps": steps, "training_macs": macs}
        print(f"{label:36s} {' '.join(overrides):70s} {macs / 1e9:7.1f} G MACs")
    atomic_write_json(args.out, {"benchmark": "training_compute", "config": args.config,
                                 "torch": torch.__version__, "machine": platform.machine(),
                                 "recipes": rows})


if __name__ == "__main__":
    main()
