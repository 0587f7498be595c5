"""Budget parsing, the legal window, and feasibility checked before any evaluation."""

from __future__ import annotations

import random

import numpy as np
import pytest

from slimnas.bench import bench_space
from slimnas.errors import SlimnasError
from slimnas.search import Budget, check_feasible, get_searcher, parse_budget
from slimnas.search.costs import all_widths_array, flops_batch, flops_of
from slimnas.search.sampling import LegalSampler
from slimnas.width.spaces import get_space

FULL = 1_000_000


@pytest.mark.parametrize("text, want", [
    ("150M", 150_000_000), ("150m", 150_000_000), ("1.2G", 1_200_000_000), ("2k", 2000),
    ("3e8", 300_000_000), (" 3E8 ", 300_000_000), (300_000_000, 300_000_000),
    ("0.5", FULL // 2), (0.5, FULL // 2), ("1", FULL), (1.0, FULL), (".25", FULL // 4),
    (3e8, 300_000_000), ("12345", 12345),
])
def test_parse_budget_accepts_suffixes_and_fractions(text, want):
    assert parse_budget(text, FULL) == want


@pytest.mark.parametrize("text", [
    "", "abc", "0", "-0.5", "-150M", "1.5", "150T", "M", "nan", "inf", "1.2.3", "0.5x",
    True, None, [0.5], float("nan"), 0, -3,
])
def test_parse_budget_rejects_everything_else(text):
    with pytest.raises(SlimnasError, match="budget"):
        parse_budget(text, FULL)


def test_budget_window():
    b = Budget(1000)
    assert (b.low, b.high) == (800.0, 1000.0)
    assert b.legal(800) and b.legal(1000) and not b.legal(799) and not b.legal(1001)
    assert b.fits(10) and b.fits(1000) and not b.fits(1001)
    b = Budget(1000, (0.5, 0.9))
    assert b.legal(500) and not b.legal(950) and b.fits(900) and not b.fits(901)
    with pytest.raises(SlimnasError):
        Budget(0)
    with pytest.raises(SlimnasError):
        Budget(1000, (0.9, 0.8))


class Counting:
    def __init__(self):
        self.calls = 0

    def score(self, widths):
        self.calls += 1
        return float(sum(widths))


@pytest.mark.parametrize("name", ["evolution", "random", "greedy"])
def test_infeasible_budget_fails_before_any_evaluation(name):
    space = bench_space("mobilenet")
    smallest = flops_of(space, space.min_widths())
    ev = Counting()
    with pytest.raises(SlimnasError, match="smallest possible FLOPs"):
        get_searcher(name).search(space, ev, Budget(smallest - 1), random.Random(0))
    assert ev.calls == 0


@pytest.mark.parametrize("name", ["evolution", "random"])
def test_unreachable_window_fails_before_any_evaluation(name):
    space = bench_space("resnet")
    largest = flops_of(space, space.max_widths())
    ev = Counting()
    with pytest.raises(SlimnasError, match="largest possible FLOPs"):
        get_searcher(name).search(space, ev, Budget(2 * largest), random.Random(0))
    assert ev.calls == 0


def test_window_in_a_gap_between_vectors_is_detected():
    space = get_space("plaincnn", depth=3, bins=4)
    f = np.unique(flops_batch(space, all_widths_array(space, 10**6)))
    gaps = np.diff(f)
    i = int(np.argmax(gaps))
    mid = int(f[i] + gaps[i] // 2)  # no vector has FLOPs near mid
    budget = Budget(mid, (0.999, 1.0))
    assert not any(budget.legal(v) for v in f)
    with pytest.raises(SlimnasError, match="none of the"):
        check_feasible(space, budget)
    check_feasible(space, budget, window=False)  # it still fits under the budget
    ev = Counting()
    with pytest.raises(SlimnasError):
        get_searcher("evolution").search(space, ev, budget, random.Random(0))
    assert ev.calls == 0


def test_sampler_without_enumeration_is_bounded_and_clear():
    space = get_space("plaincnn", depth=3, bins=4)
    f = np.unique(flops_batch(space, all_widths_array(space, 10**6)))
    i = int(np.argmax(np.diff(f)))
    budget = Budget(int(f[i] + np.diff(f)[i] // 2), (0.999, 1.0))
    sampler = LegalSampler(space, budget, enumerate_limit=0, batch=256, rounds=4)
    with pytest.raises(SlimnasError, match="could not sample"):
        sampler.sample(random.Random(0), 5)


def test_sampler_enumerated_is_uniform_over_the_window_and_distinct():
    space = bench_space("mobilenet")
    full = flops_of(space, space.max_widths())
    budget = Budget(full // 2)
    sampler = LegalSampler(space, budget)
    got = sampler.sample(random.Random(1), 300)
    assert len(set(got)) == 300
    assert all(budget.legal(flops_of(space, w)) for w in got)
    rest = sampler.sample(random.Random(2), 10**6, exclude=set(got))
    assert len(rest) + 300 == len(sampler.legal)  # runs out instead of looping
