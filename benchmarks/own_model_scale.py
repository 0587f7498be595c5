"""How long slimnas takes to turn a large user's model into a width space and a supernet.

    python benchmarks/own_model_scale.py [--model zoo:resnet50] [--size 224]

Times, on this CPU: the dependency graph and the hooks (`trace_spec`), the whole
`from_model` (tracing, the space, two checking forward passes at the fewest and the most
bins) and `build_supernet`; checks the closed-form MACs against torch.utils.flop_counter.
Target (issue 13): groups + supernet of zoo:resnet50 at 224x224 in under 5 s.
Writes benchmarks/results/own_model_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from slimnas.flops import cost_model
from slimnas.width.net import build_supernet
from slimnas.width.own import from_model, trace_spec
from slimnas.zoo import get_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="zoo:resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--bins", type=int, default=4)
    ap.add_argument("--out", default="benchmarks/results/own_model_scale.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = get_model(args.model, num_classes=1000)
    x = torch.zeros(1, 3, args.size, args.size)
    t0 = time.perf_counter()
    spec = trace_spec(model, x)
    t_trace = time.perf_counter() - t0
    t0 = time.perf_counter()
    space = from_model(model, x, args.bins, name=args.model)
    t_space = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_supernet(space)
    t_supernet = time.perf_counter() - t0
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(x)
    macs = cost_model(spec).macs(spec.base_channels)
    result = {
        "benchmark": "own_model_scale", "model": args.model, "input_size": args.size,
        "bins": args.bins, "groups": spec.num_groups, "frozen": list(spec.frozen),
        "seconds": {"trace_spec": round(t_trace, 3), "from_model": round(t_space, 3),
                    "build_supernet": round(t_supernet, 3),
                    "groups_and_supernet": round(t_space + t_supernet, 3)},
        "target_seconds": 5.0,
        "flops_macs": macs, "flop_counter_half": counter.get_total_flops() // 2,
        "params": cost_model(spec).params(spec.base_channels),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "threads": torch.get_num_threads(), "torch": torch.__version__},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["seconds"]), f"MACs {macs:,} (flop_counter/2 "
          f"{result['flop_counter_half']:,}), {spec.num_groups} groups -> {out}")


if __name__ == "__main__":
    main()
