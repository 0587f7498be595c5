"""Fairness counts: how often each bin of each group is trained under a sharing rule.

`bin_usage` runs a rule's real step plans (sampler, sandwich widths, full-network steps)
and paths on a synthetic plain-CNN space and counts, per group, how many paths used each
bin (a BCNet step counts its left AND its right path; a full step every bin once). `expected_bin_usage` gives the exact expectation per step with the width
uniform on [m, K0], by enumerating every width of one group (ALGORITHMS.md 1.1-1.4).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from slimnas.errors import SlimnasError
from slimnas.width.sampler import StepPlanner
from slimnas.width.sharing import get_rule
from slimnas.width.sharing.base import full_path
from slimnas.width.space import WidthSpace

FAMILY = "plaincnn"


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SlimnasError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _synthetic_space(rule, bins: int, min_bins: int, groups: int) -> WidthSpace:
    """A plain stack of `groups` convs, each a multiple of the total bins wide."""
    if rule.minmin:
        raise SlimnasError(f"rule {rule.name!r} picks its channels by the training loss: "
                           "its bin usage cannot be counted without a training run")
    _check_int("--bins", bins, 1)
    _check_int("--min-bins", min_bins, 1)
    if min_bins > bins:
        raise SlimnasError(f"--min-bins must be in [1, bins={bins}], got {min_bins}")
    width = 2 * (bins + min_bins) * bins  # a multiple of K0 and of K0 + m
    return rule.make_space(FAMILY, bins, min_bins, depth=groups, width=width)


def _ratio(counts: list[int]) -> float | None:
    low = min(counts)
    return None if low == 0 else max(counts) / low


def bin_usage(
    rule: str,
    bins: int,
    min_bins: int,
    steps: int,
    groups: int = 1,
    complementary: bool = False,
    seed: int = 0,
    sandwich: bool = False,
    sandwich_random: int = 2,
    full_net_every: int = 0,
) -> dict:
    """Count per group how often each bin is used by any path over `steps` training steps.

    Returns {"rule", "bins_total", "steps", "complementary", "sandwich", "full_net_every",
    "groups": [{"counts", "max_min_ratio"}], "max_min_ratio"}; a ratio is None when some bin was never used
    (the overall ratio is the max over groups, None if any group's is None).
    """
    _check_int("--steps", steps, 1)
    _check_int("--groups", groups, 1)
    if complementary and steps % 2:
        raise SlimnasError("--steps must be even with --complementary (steps come in pairs)")
    sharing = get_rule(rule)
    space = _synthetic_space(sharing, bins, min_bins, groups)
    if full_net_every == 1:
        raise SlimnasError("--full-net-every must be 0 (off) or >= 2, got 1")
    planner = StepPlanner(space, seed, complementary, sandwich, sandwich_random,
                          full_net_every)
    # count identical (group, bins) uses first, expand to per-bin counts once at the end
    uses: Counter[tuple[int, tuple[int, ...]]] = Counter()
    for step in range(steps):
        plan = planner(step)
        paths = [full_path(space)] if plan.full else \
            [p for w in plan.widths for p in sharing.paths(space, w)]
        for path in paths:
            for g, used in enumerate(path.bins):
                uses[(g, used)] += 1
    counts = [[0] * k for k in space.bins]
    for (g, used), n in uses.items():
        row = counts[g]
        for j in used:
            row[j] += n
    per_group = [{"counts": row, "max_min_ratio": _ratio(row)} for row in counts]
    ratios = [grp["max_min_ratio"] for grp in per_group]
    overall = None if any(r is None for r in ratios) else max(ratios)
    return {
        "rule": rule,
        "bins_total": space.bins[0],
        "steps": steps,
        "complementary": bool(complementary),
        "sandwich": bool(sandwich),
        "full_net_every": full_net_every,
        "groups": per_group,
        "max_min_ratio": overall,
    }


def expected_bin_usage(rule: str, bins: int, min_bins: int) -> list[float]:
    """Exact expected number of uses of each bin per step, width uniform on [m, K0].

    Computed with exact fractions over every width of one group, rounded once to float.
    """
    sharing = get_rule(rule)
    space = _synthetic_space(sharing, bins, min_bins, 1)
    widths = list(space.all_widths())
    total = [Fraction(0)] * space.bins[0]
    for w in widths:
        for path in sharing.paths(space, w):
            for j in path.bins[0]:
                total[j] += 1
    return [float(t / len(widths)) for t in total]
