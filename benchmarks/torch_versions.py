"""Run the whole test suite under another torch release, in a virtual environment of its own.

    python benchmarks/torch_versions.py 2.6.0 [--venv /tmp/torch-2.6.0]

Creates (or reuses) the venv, installs `torch==VERSION` and slimnas' own dependencies there
(never touching the current environment), runs `python -m pytest` from the repository with
this checkout on the path, and merges the outcome into
`benchmarks/results/torch_versions.json` (one entry per torch release, with the machine).
pyproject.toml's `torch>=` is the oldest release recorded here as passing.

On this kind of machine an older torch comes from PyPI as a CUDA build (about 5 GB in the
venv, a minute or two to install); the tests still run on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from slimnas.io import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "torch_versions.json"
BENCH = ROOT.parent / "shared" / "data" / "channel_bench_macro"


def _dependencies() -> list[str]:
    """slimnas' dependencies and dev extras from pyproject.toml, torch left out."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [d for d in deps if not re.match(r"torch\b", d)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("version", help="a torch release, e.g. 2.6.0")
    ap.add_argument("--venv", type=Path, help="default: /tmp/slimnas-torch-VERSION")
    args = ap.parse_args()
    venv = args.venv or Path(f"/tmp/slimnas-torch-{args.version}")
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"torch=={args.version}",
                    *_dependencies()], check=True)
    torch_version = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"],
                                   check=True, capture_output=True, text=True).stdout.strip()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SLIMNAS_BENCH_DIR": str(BENCH)}
    start = time.time()
    proc = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
                           "-q"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|error|errors|skipped)",
                                              tail)}
    entry = {"torch": torch_version, "exit_status": proc.returncode, "summary": tail,
             "counts": counts, "seconds": round(time.time() - start, 1),
             "failed_tests": re.findall(r"^FAILED (\S+)", proc.stdout, re.M),
             "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT,
                                      capture_output=True, text=True).stdout.strip(),
             "machine": {"platform": platform.platform(), "python": platform.python_version(),
                         "cpus": os.cpu_count()}}
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[args.version] = entry
    atomic_write_json(RESULTS, results)
    print(f"torch {torch_version}: {tail}")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
