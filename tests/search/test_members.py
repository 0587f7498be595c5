"""A search restricted to a finite set of width vectors (a built benchmark's architectures):
every searcher proposes and returns members only; the feasibility check and the sampler
honour the set; an empty window among the members is one clear error."""

from __future__ import annotations

import random
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_searchers import OPTIONS  # the same small searcher settings

from slimnas.bench import bench_space
from slimnas.errors import SlimnasError
from slimnas.search import Budget, CachedEvaluator, check_feasible, get_searcher
from slimnas.search.costs import all_widths_array, flops_batch, flops_of
from slimnas.search.members import Members
from slimnas.search.sampling import LegalSampler
from slimnas.width.spaces import get_space


@cache
def space_of(kind: str):
    if kind == "plaincnn":
        return get_space("plaincnn", depth=4, bins=5, width=20)
    return bench_space(kind)


class MembersOnly:
    """Scores members only: a non-member query is a test failure, not a silent value."""

    def __init__(self, members: set, seed: int):
        self.members = members
        self.rng = np.random.default_rng(seed)
        self.table = {w: float(v) for w, v in zip(sorted(members),
                                                   self.rng.normal(size=len(members)),
                                                   strict=True)}

    def score(self, widths):
        assert tuple(widths) in self.members, f"non-member {widths} evaluated"
        return self.table[tuple(widths)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["mobilenet", "resnet", "plaincnn"]),
       n=st.integers(1, 120), fraction=st.floats(0.1, 1.0),
       window_low=st.sampled_from([0.8, 0.5, 0.0]), name=st.sampled_from(sorted(OPTIONS)),
       seed=st.integers(0, 10**6), queries=st.integers(1, 40))
def test_every_candidate_is_a_member(kind, n, fraction, window_low, name, seed, queries):
    space = space_of(kind)
    grid = all_widths_array(space, 10**6)
    rows = grid[np.random.default_rng(seed).choice(len(grid), size=min(n, len(grid)),
                                                    replace=False)]
    members = Members(space, rows)
    full = flops_of(space, space.max_widths())
    budget = Budget(max(1, int(fraction * full)), (window_low, 1.0))
    searcher_name = name.split("-")[0]
    try:
        check_feasible(space, budget, window=searcher_name != "greedy", members=members)
    except SlimnasError:
        assume(False)
    ev = CachedEvaluator(MembersOnly(members.set, seed), max_queries=queries)
    try:
        result = get_searcher(searcher_name, **OPTIONS[name]).search(
            space, ev, budget, random.Random(seed), members=members)
    except SlimnasError as e:
        assert searcher_name == "greedy" and "no candidate" in str(e)  # its cap ran out
        return
    assert ev.queries <= queries
    assert result.best in members.set
    assert all(tuple(h["widths"]) in members.set for h in result.history)
    assert all(tuple(r["widths"]) in members.set for r in result.top_k)
    check = budget.fits if searcher_name == "greedy" else budget.legal
    assert check(result.best_flops)
    if searcher_name != "greedy":
        assert all(budget.legal(h["flops"]) for h in result.history)
        f = flops_batch(space, members.array)
        legal = int(np.sum((f >= budget.low) & (f <= budget.high)))
        # a cap larger than the legal members: every one of them is found, none twice
        assert len(result.history) == min(queries, legal)


def test_greedy_on_every_member_is_plain_greedy():
    # with the whole space as members, greedy takes exactly the single-bin steps
    space = bench_space("mobilenet")
    budget = Budget(flops_of(space, space.max_widths()) // 3)
    members = Members(space, all_widths_array(space, 10**6))

    class Lin:
        def score(self, w):
            return float(np.dot(w, [3, 1, 4, 1, 5, 9, 2]))

    plain = get_searcher("greedy").search(space, Lin(), budget, random.Random(0))
    restricted = get_searcher("greedy").search(space, Lin(), budget, random.Random(0),
                                               members=members)
    assert restricted.best == plain.best
    assert [h["key"] for h in restricted.history] == [h["key"] for h in plain.history]


def test_no_member_in_the_window_is_one_clear_error_before_any_query():
    space = bench_space("mobilenet")
    rows = np.array([[1] * 7, [4] * 7])
    members = Members(space, rows, source="the 2 architectures in tiny.json")
    lo, hi = flops_batch(space, rows)
    budget = Budget(int((lo + hi) / 2), (0.9, 1.0))  # between the two
    calls = []

    class Never:
        def score(self, w):
            calls.append(w)
            return 0.0

    for name in ("evolution", "random"):
        with pytest.raises(SlimnasError, match="none of the 2 architectures in tiny.json") as e:
            get_searcher(name).search(space, Never(), budget, random.Random(0), members=members)
        assert "\n" not in str(e.value)
    with pytest.raises(SlimnasError, match="smallest FLOPs of the 2 architectures"):
        get_searcher("greedy").search(space, Never(), Budget(int(lo) - 1), random.Random(0),
                                      members=members)
    assert calls == []
    # greedy only needs to fit: the 1111111 member does
    r = get_searcher("greedy").search(space, CachedEvaluator(Never()), budget,
                                      random.Random(0), members=members)
    assert r.best == (1,) * 7
    sampler = LegalSampler(space, budget, members=members)
    with pytest.raises(SlimnasError, match="none of the 2 architectures"):
        sampler.sample(random.Random(0), 3)


def test_sampler_with_members_is_exhaustive_and_never_loops():
    space = space_of("plaincnn")
    grid = all_widths_array(space, 10**6)
    members = Members(space, grid[::7])
    budget = Budget(flops_of(space, space.max_widths()) // 2, (0.5, 1.0))
    f = flops_batch(space, members.array)
    legal = {tuple(int(v) for v in r) for r in members.array[(f >= budget.low) &
                                                              (f <= budget.high)]}
    sampler = LegalSampler(space, budget, enumerate_limit=0, members=members)
    got = sampler.sample(random.Random(0), 10**6)
    assert set(got) == legal and len(got) == len(legal)
    mask = sampler.legal_mask(grid)
    assert {tuple(int(v) for v in r) for r in grid[mask]} == legal


@pytest.mark.parametrize("rows, needle", [
    ([], "empty"),
    ([(1, 2, 3)], "7 groups"),
    ([(5, 1, 1, 1, 1, 1, 1)], "outside"),
    (["444434"], "6 entries"),
])
def test_bad_members_are_refused(rows, needle):
    with pytest.raises(SlimnasError, match=needle):
        Members(bench_space("mobilenet"), rows)
