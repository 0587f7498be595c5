"""Training-step time of a supernet path at width c / that of the exported plain net at c.

A step = forward + backward + SGD(momentum, weight decay) update, the same batch for both.
Timings are interleaved, in alternating order; the ratio is the median over repeats of
each back-to-back pair's ratio. A control row times the plain net against an identical
copy of itself: its spread is the noise floor of the machine the ratios were taken on. Writes JSON (default benchmarks/results/).

    python benchmarks/slicing_overhead.py [--space cbm-mobilenet] [--rule bcnetv2] ...
    python benchmarks/slicing_overhead.py --model zoo:resnet18 --threads 2 \
        --out benchmarks/results/slicing_overhead_resnet18.json

`--model` times a user's own model (a zoo model here) as slimnas slims it: its own
forward with slim layers swapped in, against the plain copy export writes (target 1.10).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from slimnas.width.net import build_supernet, extract, selections
from slimnas.width.sharing import get_rule


def step_fn(net, params, x, y, path=None):
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        """One training step; returns (forward + backward seconds, SGD update seconds)."""
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = net(x, path) if path is not None else net(x)
        F.cross_entropy(out, y).backward()
        t1 = time.perf_counter()
        opt.step()
        return t1 - t0, time.perf_counter() - t1

    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="cbm-mobilenet")
    ap.add_argument("--model", default=None, help="zoo:NAME: a user's model instead of --space")
    ap.add_argument("--width-mult", type=float, default=0.25)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--rule", default="bcnetv2")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--out", default="benchmarks/results/slicing_overhead.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rule = get_rule(args.rule)
    if args.model:
        from slimnas.width.own import from_model
        from slimnas.zoo import get_model

        model = get_model(args.model, num_classes=10, in_channels=args.in_channels)
        example = torch.zeros(1, args.in_channels, args.input_size, args.input_size)
        space = from_model(model, example, 4, 1, enlarge=rule.enlarges, name=args.model)
    else:
        space = rule.make_space(args.space, 4, 1, width_mult=args.width_mult,
                                input_size=args.input_size, in_channels=args.in_channels)
    supernet = build_supernet(space).train()
    x = torch.randn(args.batch, args.in_channels, args.input_size, args.input_size)
    y = torch.randint(0, 10, (args.batch,))
    rows = []
    for c in range(space.c_min[0], space.c_max[0] + 1):
        widths = space.uniform_widths(c)
        for path in rule.paths(space, widths):
            sels = selections(space, path)
            plain = extract(supernet, space, path).train()
            twin = copy.deepcopy(plain)  # control: the same plain net against itself
            sup_step = step_fn(supernet, supernet.parameters(), x, y, sels)
            plain_step = step_fn(plain, plain.parameters(), x, y)
            twin_step = step_fn(twin, twin.parameters(), x, y)
            for _ in range(10):  # warm-up: allocator and oneDNN primitive caches
                sup_step()
                plain_step()
                twin_step()
            ts, tp, tt = [], [], []  # per repeat: (forward + backward, update) seconds
            for r in range(args.repeats):
                order = [(sup_step, ts), (plain_step, tp), (twin_step, tt)]
                for fn, acc in (order if r % 2 == 0 else order[::-1]):  # alternate the order
                    acc.append(fn())
            ms, mp = (statistics.median(sum(t) for t in ts),
                      statistics.median(sum(t) for t in tp))
            # paired: each repeat's ratio of back-to-back steps, robust to slow machine drift
            ratio = statistics.median(sum(a) / sum(b) for a, b in zip(ts, tp, strict=True))
            control = statistics.median(sum(a) / sum(b) for a, b in zip(tt, tp, strict=True))
            fb_ratio = statistics.median(a[0] / b[0] for a, b in zip(ts, tp, strict=True))
            rows.append({"widths": space.key(widths), "path": path.side,
                         "supernet_ms": round(ms * 1e3, 3), "plain_ms": round(mp * 1e3, 3),
                         "ratio": round(ratio, 4), "control_ratio": round(control, 4),
                         "fwd_bwd_ratio": round(fb_ratio, 4),
                         "supernet_update_ms": round(statistics.median(t[1] for t in ts) * 1e3, 3),
                         "plain_update_ms": round(statistics.median(t[1] for t in tp) * 1e3, 3)})
            print(f"{space.key(widths)} {path.side:5s} supernet {ms * 1e3:7.2f} ms  "
                  f"plain {mp * 1e3:7.2f} ms  ratio {ratio:.3f}  (plain vs its twin "
                  f"{control:.3f})")
    ratios = [r["ratio"] for r in rows]
    controls = [r["control_ratio"] for r in rows]
    result = {
        "benchmark": "slicing_overhead",
        "what": "train-step time (fwd+bwd+SGD) supernet path / exported plain net, same width",
        "space": args.model or args.space, "width_mult": None if args.model else args.width_mult, "input_size": args.input_size,
        "in_channels": args.in_channels, "rule": args.rule, "batch": args.batch,
        "repeats": args.repeats, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(),
        "rows": rows, "max_ratio": max(ratios), "median_ratio": statistics.median(ratios),
        "control_spread": [min(controls), max(controls)],
        "median_fwd_bwd_ratio": statistics.median(r["fwd_bwd_ratio"] for r in rows),
        "supernet_params": sum(p.numel() for p in supernet.parameters()),
        "target": 1.10 if args.model else 1.05,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"max ratio {result['max_ratio']:.3f}, median {result['median_ratio']:.3f} "
          f"(forward + backward alone {result['median_fwd_bwd_ratio']:.3f}), "
          f"control {result['control_spread']} -> {out}")


if __name__ == "__main__":
    main()
