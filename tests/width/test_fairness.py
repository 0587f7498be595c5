"""Fairness of UA, BCNet and BCNetV2 (ALGORITHMS.md 1.1-1.4), counted on real paths."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slimnas.errors import SlimnasError
from slimnas.width.fairness import bin_usage, expected_bin_usage
from slimnas.width.sampler import WidthSampler
from slimnas.width.sharing import get_rule


@st.composite
def bcnetv2_setups(draw: st.DrawFn) -> tuple[int, int, int, int]:
    k0 = draw(st.integers(1, 12))
    m = draw(st.integers(1, k0))
    groups = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    return k0, m, groups, seed


@settings(max_examples=60, deadline=None)
@given(bcnetv2_setups())
def test_bcnetv2_complementary_pair_uses_every_bin_twice(setup: tuple[int, int, int, int]) -> None:
    k0, m, groups, seed = setup
    usage = bin_usage("bcnetv2", k0, m, 2, groups=groups, complementary=True, seed=seed)
    assert usage["bins_total"] == k0 + m
    assert len(usage["groups"]) == groups
    for grp in usage["groups"]:
        assert grp["counts"] == [2] * (k0 + m)
        assert grp["max_min_ratio"] == 1.0
    assert usage["max_min_ratio"] == 1.0
    # every later pair (steps 2k, 2k+1) of the real sampler, not just the first one
    rule = get_rule("bcnetv2")
    space = rule.make_space("plaincnn", k0, m, depth=groups, width=4 * k0)
    sampler = WidthSampler(space, seed, complementary=True)
    for k in range(20):
        counts = [[0] * (k0 + m) for _ in range(groups)]
        for step in (2 * k, 2 * k + 1):
            for path in rule.paths(space, sampler(step)):
                for g, used in enumerate(path.bins):
                    for j in used:
                        counts[g][j] += 1
        assert counts == [[2] * (k0 + m)] * groups, f"pair {k}"


@settings(max_examples=30, deadline=None)
@given(bcnetv2_setups(), st.integers(1, 50))
def test_bcnetv2_complementary_exactly_fair_over_many_steps(
    setup: tuple[int, int, int, int], pairs: int
) -> None:
    k0, m, groups, seed = setup
    usage = bin_usage("bcnetv2", k0, m, 2 * pairs, groups=groups, complementary=True, seed=seed)
    assert usage["max_min_ratio"] == 1.0
    for grp in usage["groups"]:
        assert grp["counts"] == [2 * pairs] * (k0 + m)  # each pair: every bin twice


@pytest.mark.parametrize("k", range(1, 13))
def test_bcnet_equal_in_expectation(k: int) -> None:
    expected = expected_bin_usage("bcnet", k, 1)
    assert len(expected) == k
    assert expected == [(k + 1) / k] * k


def test_bcnet_measured_nearly_fair() -> None:
    k, steps = 8, 20000
    usage = bin_usage("bcnet", k, 1, steps, groups=2, seed=1)
    assert usage["bins_total"] == k
    for grp in usage["groups"]:
        assert sum(grp["counts"]) == pytest.approx(steps * (k + 1), rel=0.02)
    ratio = usage["max_min_ratio"]
    assert 1.0 <= ratio < 1.03, f"BCNet measured max/min ratio {ratio:.4f}"


def test_bcnet_unfair_with_min_width() -> None:
    # plain BCNet with m > 1 over-trains the middle bins: why BCNetV2 enlarges
    expected = expected_bin_usage("bcnet", 5, 2)
    assert expected[0] < expected[2] and expected[-1] < expected[2]


@pytest.mark.parametrize("k", range(1, 13))
def test_ua_expected_skew_is_k_to_one(k: int) -> None:
    expected = expected_bin_usage("ua", k, 1)
    assert expected == [(k - j) / k for j in range(k)]
    exact = [Fraction(k - j, k) for j in range(k)]
    assert max(exact) / min(exact) == k
    assert max(expected) / min(expected) == pytest.approx(k, rel=1e-12)


def test_ua_measured_skew() -> None:
    k, steps = 4, 20000
    usage = bin_usage("ua", k, 1, steps, groups=3, seed=7)
    ratio = usage["max_min_ratio"]
    assert usage["groups"][0]["counts"][0] == steps  # bin 0 is in every path
    assert abs(ratio - k) / k < 0.06, f"UA measured max/min ratio {ratio:.4f}, expected ~{k}"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 20).flatmap(lambda k0: st.tuples(st.just(k0), st.integers(1, k0))))
def test_bcnetv2_expected_usage_is_one(setup: tuple[int, int]) -> None:
    k0, m = setup
    assert expected_bin_usage("bcnetv2", k0, m) == [1.0] * (k0 + m)


def test_bcnetv2_without_complementary_near_fair() -> None:
    usage = bin_usage("bcnetv2", 4, 1, 20000, seed=3)
    assert usage["bins_total"] == 5
    assert usage["max_min_ratio"] < 1.04


def test_result_shape_and_unused_bin_ratio() -> None:
    usage = bin_usage("ua", 6, 1, 1, groups=2, seed=0)
    assert set(usage) == {"rule", "bins_total", "steps", "complementary", "sandwich",
                          "full_net_every", "groups", "max_min_ratio"}
    assert usage["rule"] == "ua" and usage["steps"] == 1 and usage["complementary"] is False
    for grp in usage["groups"]:
        assert set(grp) == {"counts", "max_min_ratio"}
        if min(grp["counts"]) == 0:
            assert grp["max_min_ratio"] is None
    if any(grp["max_min_ratio"] is None for grp in usage["groups"]):
        assert usage["max_min_ratio"] is None


def test_deterministic_in_seed() -> None:
    a = bin_usage("bcnet", 6, 2, 50, groups=2, seed=11)
    b = bin_usage("bcnet", 6, 2, 50, groups=2, seed=11)
    assert a == b


def test_odd_steps_with_complementary() -> None:
    with pytest.raises(SlimnasError) as info:
        bin_usage("bcnetv2", 4, 1, 3, complementary=True)
    assert str(info.value) == "--steps must be even with --complementary (steps come in pairs)"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rule="nope"), "unknown rule"),
        (dict(steps=0), "steps"),
        (dict(groups=0), "groups"),
        (dict(bins=0), "bins"),
        (dict(min_bins=0), "min-bins"),
        (dict(min_bins=5), "min-bins"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = dict(rule="bcnet", bins=4, min_bins=1, steps=10, groups=1)
    args.update(kwargs)
    with pytest.raises(SlimnasError, match=match):
        bin_usage(**args)


def test_expected_unknown_rule() -> None:
    with pytest.raises(SlimnasError, match="unknown rule"):
        expected_bin_usage("nope", 4, 1)
