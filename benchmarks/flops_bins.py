"""How much FLOPs-sensitive bins (ALGORITHMS.md 1.8) shrink each built-in space.

For K0 = 4, 8, 20 bins of interest (m = 1, at least 2 bins a group): the search-space size
with uniform bins and with FLOPs-sensitive bins, the per-group bin counts, and the spread
of one bin's MACs across groups (max / min). Writes JSON (default benchmarks/results/).

    python benchmarks/flops_bins.py [--out benchmarks/results/flops_bins.json]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from slimnas.io import atomic_write_json
from slimnas.width.flops_bins import bin_flops_ratio
from slimnas.width.spaces import family_names, get_space


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/flops_bins.json")
    ap.add_argument("--min-group-bins", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for family in family_names():
        for k0 in (4, 8, 20):
            uniform = get_space(family, bins=k0)
            fs = get_space(family, bins=k0, flops_bins=True, flops_bins_min=args.min_group_bins)
            rows.append({
                "space": family, "bins": k0, "groups": uniform.num_groups,
                "size_uniform": uniform.size(), "size_flops_bins": fs.size(),
                "log10_shrink": round(math.log10(uniform.size() / fs.size()), 2),
                "group_bins": list(fs.group_base_bins),
                "bin_macs_spread_uniform": round(bin_flops_ratio(
                    uniform.spec, uniform.full_channels, uniform.group_base_bins), 2),
                "bin_macs_spread_flops_bins": round(bin_flops_ratio(
                    fs.spec, fs.full_channels, fs.group_base_bins), 2),
            })
            r = rows[-1]
            print(f"{family:14s} K0={k0:2d} size {r['size_uniform']:.3g} -> "
                  f"{r['size_flops_bins']:.3g} (10^-{r['log10_shrink']}), bin MACs spread "
                  f"{r['bin_macs_spread_uniform']} -> {r['bin_macs_spread_flops_bins']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, {"benchmark": "flops_bins", "min_bins": 1,
                            "min_group_bins": args.min_group_bins, "rows": rows})
    print(f"-> {out}")


if __name__ == "__main__":
    main()
