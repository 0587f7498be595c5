"""FLOPs-sensitive bins (CafeNet, ALGORITHMS.md 1.8): every bin costs about the same FLOPs.

The library's reading of the paper (which has no official code), rule by rule:

1. f_g = the MACs one more channel of group g adds with every other group at full width
   (the closed-form cost model makes this exact: a difference of two bilinear forms).
2. The costliest group g* (largest f_g) keeps the uniform layout: bin size s0 = C_g* / K0.
3. Every group g gets bins of s0 * 2^ceil(log2(f_g* / f_g)) channels, so one of its bins
   costs between 1x and 2x what a bin of g* costs: cheap groups get fewer, larger bins.
4. The bin count K_g must divide C_g (bins stay equal-sized): among the divisors whose bin
   cost stays inside that [1, 2) band, the one whose bin size is nearest the ideal (ties go
   to more bins); when none does, the nearest to the ideal overall. Then the cap: a group
   keeps at least `min_group_bins` bins (a 1-bin group would not be searched at all).
   Capped groups have cheaper bins than the band; `bin_flops_ratio` reports the spread.
5. With `round_to` r, only bin counts K_g whose bins hold a multiple of r channels (K_g x r
   divides C_g) are candidates, and the cap is at most C_g / r bins (r = 1: every divisor).

The result is a per-group K0 (bins of interest); rules that enlarge the supernet (BCNetV2)
add their m bins to every group on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.width.spec import NetSpec


def channel_costs(spec: NetSpec, channels: Sequence[int]) -> list[int]:
    """f_g: the MACs one more channel of group g adds, every other group at `channels`."""
    model = cost_model(spec)
    base = model.macs(channels)
    out = []
    for g in range(len(channels)):
        more = list(channels)
        more[g] += 1
        out.append(model.macs(more) - base)
    return out


def flops_sensitive_bins(spec: NetSpec, channels: Sequence[int], base_bins: int,
                         min_group_bins: int = 2, round_to: int = 1) -> tuple[int, ...]:
    """Per-group bin counts K_g for groups of `channels` (each divisible by `base_bins`, and
    by `base_bins` x `round_to` for bins of a multiple of `round_to` channels)."""
    if min_group_bins < 1:
        raise SlimnasError(f"flops_bins_min must be >= 1, got {min_group_bins}")
    costs = channel_costs(spec, channels)
    if min(costs) <= 0:
        raise SlimnasError("flops-sensitive bins: a group adds no FLOPs per channel")
    top = max(range(len(costs)), key=lambda g: costs[g])
    s0 = channels[top] / base_bins
    out = []
    for c, f in zip(channels, costs, strict=True):
        ratio = costs[top] / f
        ideal = s0 * 2 ** math.ceil(math.log2(ratio) - 1e-12)
        divisors = [d for d in range(1, c + 1) if c % d == 0]
        fit = [d for d in divisors if c % (d * round_to) == 0]
        if fit:  # bins of a multiple of round_to channels (a traced model's fixed width
            divisors = fit  # that round_to does not divide: its spec's check_bins says so)
        # prefer bin counts whose bin cost stays in [1, 2) x the costliest group's bin
        band = [d for d in divisors if s0 * ratio - 1e-9 <= c / d < 2 * s0 * ratio - 1e-9]
        k = min(band or divisors, key=lambda d: (abs(c / d - ideal), -d))
        lo = min(min_group_bins, max(divisors))
        if k < lo:  # the cap: a group keeps at least `min_group_bins` bins
            k = min(d for d in divisors if d >= lo)
        out.append(k)
    return tuple(out)


def below_band(spec: NetSpec, channels: Sequence[int], bins: Sequence[int]) -> list[int]:
    """Groups whose bins cost less than the costliest group's (a group at its fewest bins)."""
    costs = channel_costs(spec, channels)
    per_bin = bin_flops(spec, channels, bins)
    top = max(range(len(costs)), key=lambda g: costs[g])
    return [g for g, b in enumerate(per_bin) if b < per_bin[top] * (1 - 1e-9)]


def bin_flops(spec: NetSpec, channels: Sequence[int], bins: Sequence[int]) -> list[float]:
    """MACs of one bin of each group (f_g x channels per bin), others at full width."""
    costs = channel_costs(spec, channels)
    return [f * c / k for f, c, k in zip(costs, channels, bins, strict=True)]


def bin_flops_ratio(spec: NetSpec, channels: Sequence[int], bins: Sequence[int]) -> float:
    """max / min per-bin MACs across groups: <= 2 when every group kept its ideal size."""
    per_bin = bin_flops(spec, channels, bins)
    return max(per_bin) / min(per_bin)
