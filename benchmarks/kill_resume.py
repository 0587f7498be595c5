"""`slimnas run` killed with SIGKILL during each stage, then rerun with the same command.

For each stage (supernet training, search, export, retraining) the script starts the main
job, kills it when that stage is under way (read from the job's one-line-per-stage output;
for training: once the first checkpoint exists), reruns the identical command, and compares
the final result.json with that of an uninterrupted run (the `out` key of the recorded config
aside). Writes benchmarks/results/kill_resume.json.

    python benchmarks/kill_resume.py [--dir runs/kill-resume] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from slimnas.io import atomic_write_json

# a short main job: every stage takes a few seconds
DEFAULT = ["train.epochs=3", "train.progress=false", "train.tensorboard=false",
           "search.queries=30", "retrain.epochs=4"]
TRIGGERS = {  # stage -> (what in a stage line starts it, seconds to wait after it)
    "supernet": ("[1/4] supernet", None),  # None: wait for the first checkpoint
    "search": ("[2/4] search", 1.0),
    "export": ("[3/4] winner", 0.0),  # "exporting from the supernet": kill at once
    "retrain": ("retraining", 0.5),
}


def command(out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "slimnas.cli", "run", *DEFAULT, *extra, f"out={out}"]


def result(out: Path) -> dict:
    res = json.loads((out / "result.json").read_text())
    del res["config"]["out"]
    return res


def kill_during(stage: str, out: Path, extra: list[str]) -> dict:
    marker, wait = TRIGGERS[stage]
    proc = subprocess.Popen(command(out, extra), stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip())
        if marker in line:
            if wait is None:
                ckpt = out / "supernet" / "checkpoint.pt"
                while not ckpt.exists() and proc.poll() is None:
                    time.sleep(0.01)
            else:
                time.sleep(wait)
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    left = sorted(p.name for p in out.iterdir())
    return {"killed": proc.returncode == -signal.SIGKILL, "last_line": lines[-1] if lines else "",
            "left_in_out": left}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="runs/kill-resume")
    ap.add_argument("--out", default="benchmarks/results/kill_resume.json")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    base = Path(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run(command(base / "straight", args.overrides), check=True,
                   stderr=subprocess.DEVNULL)
    straight = result(base / "straight")
    rows = {}
    for stage in TRIGGERS:
        out = base / f"killed-{stage}"
        row = kill_during(stage, out, args.overrides)
        rerun = subprocess.run(command(out, args.overrides), capture_output=True, text=True)
        row["rerun_exit"] = rerun.returncode
        row["rerun_lines"] = [ln for ln in rerun.stderr.splitlines() if "slimnas run:" in ln]
        row["same_result_json"] = rerun.returncode == 0 and result(out) == straight
        rows[stage] = row
        print(f"{stage:8s} killed={row['killed']} rerun exit {row['rerun_exit']} "
              f"same result.json: {row['same_result_json']}", flush=True)
    atomic_write_json(args.out, {
        "benchmark": "kill_resume", "command": command(Path("OUT"), args.overrides)[1:],
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": round(time.perf_counter() - t0, 1), "stages": rows})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
