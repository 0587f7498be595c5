"""How much faster `retrain(..., channels_last=True)` trains than the default memory format.

    python benchmarks/channels_last.py [--procs 2] [--images 3840] [--repeats 3]

Trains window widths of the decisive study's space (cbm-mobilenet 0.25x, 28x28x1, batch 128,
pad 2 + flip, one epoch over `--images` random images, as `bench build` trains a run) with
`retrain`, one torch thread per process, alternating the two formats `--repeats` times;
`--procs 2` runs two such processes at once, as `bench build --jobs 2` does on a 2-core
machine. Writes images/s per format and the ratio to
`benchmarks/results/channels_last.json` (with the machine).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import statistics
import time
from pathlib import Path

KEYS = ("2324332", "3322242")  # two of the pilot's window widths


def measure(images: int, repeats: int) -> dict:
    import torch

    from slimnas.data import Augment
    from slimnas.retrain import retrain
    from slimnas.width.net import WidthNet
    from slimnas.width.spaces import get_space

    torch.set_num_threads(1)
    space = get_space("cbm-mobilenet", bins=4, min_bins=1, width_mult=0.25, input_size=28,
                      in_channels=1, num_classes=10)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(images, 1, 28, 28, generator=g), torch.randint(0, 10, (images,),
                                                                        generator=g)
    hx, hy = x[:256], y[:256]
    rates: dict = {"contiguous": [], "channels_last": []}
    for _ in range(repeats):
        for key in KEYS:
            for fmt in rates:
                torch.manual_seed(0)
                net = WidthNet(space.spec, space.channels_of(space.parse(key)), dynamic=False)
                t = time.perf_counter()
                retrain(net, x, y, hx, hy, 1, 128, 0.1, seed=0, augment=Augment(2, True),
                        eval_each_epoch=False, measure_before=False,
                        channels_last=fmt == "channels_last")
                rates[fmt].append(images / (time.perf_counter() - t))
    return rates


def _worker(args: tuple) -> dict:
    return measure(*args)


def main() -> None:
    import torch

    from slimnas.io import atomic_write_json
    from slimnas.latency import cpu_identity, cpu_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--images", type=int, default=3840)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/channels_last.json")
    args = ap.parse_args()
    with mp.get_context("spawn").Pool(args.procs) as pool:
        per_proc = pool.map(_worker, [(args.images, args.repeats)] * args.procs)
    result = {"benchmark": "channels_last",
              "machine": {"platform": platform.platform(), "cpu": cpu_model(),
                          "cpu_id": cpu_identity(), "torch": torch.__version__,
                          "python": platform.python_version(), "threads_per_process": 1},
              "setup": {"space": "cbm-mobilenet 0.25x", "input": "28x28x1", "batch": 128,
                        "keys": list(KEYS), "images_per_run": args.images,
                        "repeats": args.repeats, "processes_at_once": args.procs}}
    for fmt in ("contiguous", "channels_last"):
        rates = [r for p in per_proc for r in p[fmt]]
        result[fmt] = {"median_images_per_s_per_process": round(statistics.median(rates), 1),
                       "min": round(min(rates), 1), "max": round(max(rates), 1)}
    ratios = [c / p for proc in per_proc
              for c, p in zip(proc["channels_last"], proc["contiguous"], strict=True)]
    result["paired_speedup"] = {"median": round(statistics.median(ratios), 3),
                                "min": round(min(ratios), 3), "max": round(max(ratios), 3),
                                "pairs": len(ratios), "note": "each channels-last run over "
                                "the contiguous run just before it (same width, process)"}
    result["speedup_median"] = round(result["channels_last"]["median_images_per_s_per_process"]
                                     / result["contiguous"]["median_images_per_s_per_process"],
                                     3)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
