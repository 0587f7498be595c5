"""Peak training memory and time of one search step: BNAS-D vs BNAS-v2-PC (K=4) vs DARTS.

The BCNN rows use the default (released) layout; `bnas-d-compact` and `bnas-v2-pc-compact`
repeat them with `search.layout=compact` (the side-path widths, see bnas/bodies.py).

A step is the search trainer's own `search_step`: an architecture step (Adam on alphas and
betas) then a weight step (SGD), each a forward + backward on its own batch. Every variant
runs in a FRESH subprocess (nothing another variant allocated can be reused), builds its
network and optimizers, creates its two batches, and records the memory it then holds.
Training memory = the peak during the steps minus that baseline:

- CPU: resident set size. The kernel's high-water mark (VmHWM) is reset after the build
  through /proc/self/clear_refs, so earlier peaks (imports, building) do not count; where
  that reset is refused, ru_maxrss is used and the figure says so.
- CUDA: torch.cuda.max_memory_allocated after reset_peak_memory_stats.

On the CPU a second figure, `tensor_memory_mib`, counts only live tensor bytes (from the
profiler's allocation records, one extra profiled step): RSS also holds what glibc keeps
after frees, and that share differs between networks of big and of many small tensors.

Time per step: the median over the steps after the first (warm-up). Writes JSON. Step
times on a shared machine drift with its load, so the layouts' times are also compared
interleaved: one process builds both layouts of a variant and alternates their steps
(`layout_time_interleaved`; --interleaved-steps 0 skips it).

    python benchmarks/bnas_memory.py [--batch 32] [--size 32] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

# row name -> (variant, BCNN layout)
ROWS = {"bnas-d": ("bnas-d", "released"), "bnas-v2-pc": ("bnas-v2-pc", "released"),
        "darts": ("darts", "released"), "bnas-d-compact": ("bnas-d", "compact"),
        "bnas-v2-pc-compact": ("bnas-v2-pc", "compact")}


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _tensor_peak(step) -> int:
    """Peak bytes of live tensors allocated during `step` (the CPU analogue of CUDA's
    max_memory_allocated, free of the C allocator's caching): the running sum of the
    profiler's allocation records, in time order (an op's net allocation at its start)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()
                    if e.self_cpu_memory_usage)
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def worker(args) -> dict:
    import gc
    import resource

    import torch

    from slimnas.bnas.config import VARIANTS as PRESETS
    from slimnas.bnas.search import search_step
    from slimnas.bnas.search_net import SearchNetwork, SearchSpec

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    variant, layout = ROWS[args.worker]
    preset = PRESETS[variant]
    spec = SearchSpec(net=preset["net"], in_channels=3, num_classes=10, channels=args.channels,
                      partial_channels=preset["partial_channels"], edge_norm=preset["edge_norm"],
                      layout=layout)
    torch.manual_seed(0)
    net = SearchNetwork(spec).to(device).train()
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9,
                            weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999),
                             weight_decay=1e-3)
    g = torch.Generator().manual_seed(1)
    shape = (args.batch, 3, args.size, args.size)
    batches = [(torch.randn(shape, generator=g).to(device),
                torch.randint(0, 10, (args.batch,), generator=g).to(device)) for _ in range(2)]
    gc.collect()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        method = "torch.cuda.max_memory_allocated - memory_allocated after the build"
    else:
        reset = _reset_peak_rss()
        base = _status_kib("VmRSS") * 1024
        method = ("VmHWM (reset after the build) - VmRSS after the build" if reset else
                  "ru_maxrss - VmRSS after the build (could not reset the peak: an upper bound)")
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        search_step(net, batches[0], batches[1], a_opt, w_opt, grad_clip=5.0)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    elif reset:
        peak = _status_kib("VmHWM") * 1024
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tensor_peak = None if cuda else _tensor_peak(
        lambda: search_step(net, batches[0], batches[1], a_opt, w_opt, grad_clip=5.0))
    return {
        "variant": variant, "spec": net.describe(),
        "weight_params": sum(p.numel() for p in net.weight_parameters()),
        "held_after_build_mib": round(base / 2**20, 1),
        "peak_mib": round(peak / 2**20, 1),
        "training_memory_mib": round((peak - base) / 2**20, 1),
        "tensor_memory_mib": None if tensor_peak is None else round(tensor_peak / 2**20, 1),
        "seconds_per_step": round(statistics.median(times[1:] or times), 4),
        "step_seconds": [round(t, 4) for t in times],
        "memory_method": method,
    }


def interleaved(args) -> dict:
    """Released vs compact step time of each BCNN variant, alternating steps in one process
    so that both see the same machine load: median seconds per step after one warm-up."""
    import torch

    from slimnas.bnas.config import VARIANTS as PRESETS
    from slimnas.bnas.search import search_step
    from slimnas.bnas.search_net import SearchNetwork, SearchSpec

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(1)
    shape = (args.batch, 3, args.size, args.size)
    batches = [(torch.randn(shape, generator=g), torch.randint(0, 10, (args.batch,), generator=g))
               for _ in range(2)]
    out = {}
    for variant in ("bnas-d", "bnas-v2-pc"):
        preset, runs = PRESETS[variant], {}
        for layout in ("released", "compact"):
            torch.manual_seed(0)
            net = SearchNetwork(SearchSpec(
                net="bcnn", in_channels=3, num_classes=10, channels=args.channels,
                partial_channels=preset["partial_channels"], edge_norm=preset["edge_norm"],
                layout=layout)).train()
            runs[layout] = (net, torch.optim.SGD(net.weight_parameters(), lr=0.025,
                                                 momentum=0.9, weight_decay=3e-4),
                            torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999),
                                             weight_decay=1e-3), [])
        for _ in range(args.interleaved_steps + 1):
            for net, w_opt, a_opt, times in runs.values():
                t0 = time.perf_counter()
                search_step(net, batches[0], batches[1], a_opt, w_opt, grad_clip=5.0)
                times.append(time.perf_counter() - t0)
        med = {layout: statistics.median(r[3][1:]) for layout, r in runs.items()}
        out[variant] = {"released_seconds_per_step": round(med["released"], 4),
                        "compact_seconds_per_step": round(med["compact"], 4),
                        "released_over_compact": round(med["released"] / med["compact"], 3),
                        "steps": args.interleaved_steps}
    return out


def _ratio(a: dict, b: dict, key: str) -> float | None:
    return None if a[key] is None else round(a[key] / b[key], 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=32, help="input height = width (3 channels)")
    ap.add_argument("--channels", type=int, default=16, help="C of the search networks")
    ap.add_argument("--steps", type=int, default=4, help="timed steps (the first is warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="benchmarks/results/bnas_memory.json")
    ap.add_argument("--interleaved-steps", type=int, default=4,
                    help="alternating steps per layout for the layout time comparison")
    ap.add_argument("--worker", choices=[*ROWS, "interleaved"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(interleaved(args) if args.worker == "interleaved" else worker(args)))
        return
    rows = {}
    def run_worker(name: str) -> dict:
        cmd = [sys.executable, __file__, "--worker", name, "--batch", str(args.batch),
               "--size", str(args.size), "--channels", str(args.channels),
               "--steps", str(args.steps), "--threads", str(args.threads),
               "--device", args.device, "--interleaved-steps", str(args.interleaved_steps)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    for variant in ROWS:
        rows[variant] = r = run_worker(variant)
        print(f"{variant:18s} training memory {r['training_memory_mib']:8.1f} MiB (tensors "
              f"{r['tensor_memory_mib']} MiB)  {r['seconds_per_step']:.3f} s/step",
              file=sys.stderr)
    timing = None
    if args.interleaved_steps > 0 and args.device == "cpu":
        timing = run_worker("interleaved")
        print(f"interleaved released / compact time: "
              f"{ {v: t['released_over_compact'] for v, t in timing.items()} }", file=sys.stderr)
    d, pc = rows["bnas-d"], rows["bnas-v2-pc"]
    import torch

    result = {
        "what": "one search step (arch step + weight step), each variant in a fresh process",
        "batch": args.batch, "input": [3, args.size, args.size], "channels": args.channels,
        "device": args.device, "threads": args.threads,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch": torch.__version__,
                    "cuda": torch.cuda.get_device_name() if args.device.startswith("cuda")
                    else None},
        "variants": rows,
        "pc_over_bnas_d_memory": round(pc["training_memory_mib"] / d["training_memory_mib"], 3),
        "pc_over_bnas_d_time": round(pc["seconds_per_step"] / d["seconds_per_step"], 3),
        "pc_over_bnas_d_tensor_memory": _ratio(pc, d, "tensor_memory_mib"),
        "darts_over_bnas_d_memory": round(rows["darts"]["training_memory_mib"]
                                          / d["training_memory_mib"], 3),
        "darts_over_bnas_d_time": round(rows["darts"]["seconds_per_step"]
                                        / d["seconds_per_step"], 3),
        "target": "pc_over_bnas_d_memory <= 0.35",
        "compact_pc_over_bnas_d_memory": round(
            rows["bnas-v2-pc-compact"]["training_memory_mib"]
            / rows["bnas-d-compact"]["training_memory_mib"], 3),
        "compact_pc_over_bnas_d_tensor_memory": _ratio(rows["bnas-v2-pc-compact"],
                                                       rows["bnas-d-compact"],
                                                       "tensor_memory_mib"),
        "released_over_compact": {
            v: {key: _ratio(rows[v], rows[f"{v}-compact"], key)
                for key in ("weight_params", "training_memory_mib", "tensor_memory_mib",
                            "seconds_per_step")}
            for v in ("bnas-d", "bnas-v2-pc")},
        "layout_time_interleaved": timing,
    }
    result["target_met"] = result["pc_over_bnas_d_memory"] <= 0.35
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from slimnas.io import atomic_write_json

    atomic_write_json(out, result)
    print(f"PC / BNAS-D memory {result['pc_over_bnas_d_memory']} (tensors "
          f"{result['pc_over_bnas_d_tensor_memory']}), time {result['pc_over_bnas_d_time']}"
          f" -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
