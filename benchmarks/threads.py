"""How many torch threads should `slimnas run` use? Idle and loaded wall times.

Times a short main job (`slimnas run` with 2 supernet epochs, 20 queries, 2 retraining
epochs on digits) with `threads=1`, `threads=2` and `threads=0` (torch's default, one per
core), once on an idle machine and once while another process keeps every core busy (a
torch matmul loop with the default thread count, as another training job would).
Writes benchmarks/results/threads.json.

    python benchmarks/threads.py [--threads 1,2,0] [--dir runs/threads]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from slimnas.io import atomic_write_json

JOB = ["train.epochs=2", "search.queries=20", "retrain.epochs=2", "train.progress=false",
       "train.tensorboard=false"]
LOAD = ("import torch\n"
        "a = torch.randn(512, 512)\n"
        "while True:\n"
        "    a = torch.tanh(a @ a)\n")


def timed_run(threads: int, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "slimnas.cli", "run", *JOB, f"threads={threads}",
                    f"out={out}"], check=True, stderr=subprocess.DEVNULL)
    return round(time.perf_counter() - t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2,0")
    ap.add_argument("--dir", default="runs/threads")
    ap.add_argument("--out", default="benchmarks/results/threads.json")
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    rows = []
    for load in ("idle", "loaded"):
        loader = None
        if load == "loaded":
            loader = subprocess.Popen([sys.executable, "-c", LOAD])
            time.sleep(2)
        try:
            for t in counts:
                seconds = timed_run(t, Path(args.dir) / f"{load}-{t}")
                rows.append({"load": load, "threads": t, "seconds": seconds})
                print(f"{load:6s} threads={t}: {seconds} s", flush=True)
        finally:
            if loader is not None:
                loader.kill()
                loader.wait()
    import torch

    atomic_write_json(args.out, {
        "benchmark": "threads", "job": JOB, "load": "one other process: " + LOAD,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "torch": torch.__version__,
                    "torch_default_threads": torch.get_num_threads()},
        "runs": rows})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
