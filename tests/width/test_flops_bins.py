"""FLOPs-sensitive bins: every bin of every group costs about the same FLOPs (1.8)."""

from __future__ import annotations

import pytest

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.width.flops_bins import below_band, bin_flops, channel_costs, flops_sensitive_bins
from slimnas.width.sharing import get_rule
from slimnas.width.spaces import family_names, get_space


@pytest.mark.parametrize("family", family_names())
@pytest.mark.parametrize("k0", [4, 8, 20])
@pytest.mark.parametrize("min_group_bins", [1, 2])
def test_per_bin_flops_within_2x_across_groups(family: str, k0: int, min_group_bins: int) -> None:
    space = get_space(family, bins=k0, flops_bins=True, flops_bins_min=min_group_bins)
    ch, bins = space.full_channels, space.group_base_bins
    per_bin = bin_flops(space.spec, ch, bins)
    low = below_band(space.spec, ch, bins)
    in_band = [b for g, b in enumerate(per_bin) if g not in low]
    assert max(in_band) <= 2 * min(in_band), (family, k0, bins)
    for g in low:  # cheaper than the band only where a group is already at its fewest bins
        fewest = min(d for d in range(1, ch[g] + 1) if ch[g] % d == 0 and d >= min_group_bins)
        assert bins[g] == fewest, (family, k0, g, bins)
    for c, k in zip(ch, bins, strict=True):
        assert c % k == 0 and k >= min(min_group_bins, c)


@pytest.mark.parametrize("family", family_names())
def test_many_bins_keep_every_group_within_2x(family: str) -> None:
    space = get_space(family, bins=20, flops_bins=True)
    per_bin = bin_flops(space.spec, space.full_channels, space.group_base_bins)
    assert max(per_bin) <= 2 * min(per_bin)


def test_channel_costs_are_exact_differences() -> None:
    space = get_space("cbm-mobilenet", bins=4)
    model = cost_model(space.spec)
    ch = list(space.full_channels)
    for g, f in enumerate(channel_costs(space.spec, ch)):
        more = list(ch)
        more[g] += 1
        assert f == model.macs(more) - model.macs(ch)


def test_costliest_group_keeps_the_uniform_bins_and_cheap_groups_get_fewer() -> None:
    space = get_space("cbm-mobilenet", bins=8, flops_bins=True)
    costs = channel_costs(space.spec, space.full_channels)
    top = costs.index(max(costs))
    assert space.group_base_bins[top] == 8
    sizes = [c // k for c, k in zip(space.full_channels, space.group_base_bins, strict=True)]
    for g in range(space.num_groups):  # larger bins where a channel is cheaper
        for h in range(space.num_groups):
            if costs[g] * 2 <= costs[h]:
                assert sizes[g] >= sizes[h]


@pytest.mark.parametrize("rule", ["ua", "bcnet", "bcnetv2", "cafenet"])
def test_every_rule_takes_flops_bins(rule: str) -> None:
    r = get_rule(rule)
    space = r.make_space("cbm-resnet", 8, 2, flops_bins=True)
    k0 = space.group_base_bins
    extra = 2 if r.enlarges else 0
    assert space.bins == tuple(k + extra for k in k0)
    assert space.c_max == k0 and space.c_min == (2,) * space.num_groups
    for c, full, k in zip(space.channels, space.full_channels, k0, strict=True):
        assert c == full // k * (k + extra)
    assert space.size() < get_space("cbm-resnet", bins=8, min_bins=2).size()
    assert space.describe()["group_bins"] == list(k0)


def test_bad_minimum_is_a_clear_error() -> None:
    space = get_space("plaincnn")
    with pytest.raises(SlimnasError, match="flops_bins_min"):
        flops_sensitive_bins(space.spec, space.full_channels, 4, 0)
