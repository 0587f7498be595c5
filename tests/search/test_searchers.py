"""Every searcher, on every kind of space: bounded, legal results; options; registry."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from slimnas.bench import bench_space
from slimnas.errors import SlimnasError
from slimnas.search import (
    Budget,
    CachedEvaluator,
    EvolutionSearcher,
    GreedySearcher,
    RandomSearcher,
    check_feasible,
    get_searcher,
)
from slimnas.search.costs import flops_of
from slimnas.width.spaces import get_space

SRC = Path(__file__).resolve().parents[2] / "src"
# small query caps and pools keep each example in the tens of milliseconds
OPTIONS = {
    "evolution": dict(pool=300),
    "evolution-plain": dict(surrogate=False, flops_aware=False, local_search=False,
                            population=12, top_k=4, mutations=6, crossovers=6),
    "evolution-flops": dict(surrogate=False, population=12, top_k=4, mutations=6, crossovers=6),
    "random": {},
    "greedy": {},
}


@cache
def space_of(kind: str, depth: int, bins: int):
    if kind in ("mobilenet", "resnet"):
        return bench_space(kind)
    return get_space("plaincnn", depth=depth, bins=bins, width=24)


class Linear:
    """A fixed random linear function of the widths (plus a small pairwise term)."""

    def __init__(self, groups: int, seed: int):
        r = np.random.default_rng(seed)
        self.a = r.normal(size=groups)
        self.b = 0.1 * r.normal(size=groups)

    def score(self, widths):
        w = np.asarray(widths, float)
        return float(self.a @ w + self.b @ (w * np.roll(w, 1)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["mobilenet", "resnet", "plaincnn"]),
       depth=st.integers(3, 5), bins=st.integers(4, 6),
       fraction=st.floats(0.05, 1.0), window_low=st.sampled_from([0.8, 0.5, 0.95]),
       name=st.sampled_from(sorted(OPTIONS)), seed=st.integers(0, 10**6),
       enumerate_limit=st.sampled_from([100_000, 0]), queries=st.integers(1, 60))
def test_every_returned_candidate_respects_the_budget(kind, depth, bins, fraction, window_low,
                                                     name, seed, enumerate_limit, queries):
    space = space_of(kind, depth, bins)
    full = flops_of(space, space.max_widths())
    budget = Budget(max(1, int(fraction * full)), (window_low, 1.0))
    searcher_name = name.split("-")[0]
    try:
        check_feasible(space, budget, window=searcher_name != "greedy")
    except SlimnasError:
        assume(False)
    opts = dict(OPTIONS[name], enumerate_limit=enumerate_limit)
    ev = CachedEvaluator(Linear(space.num_groups, seed), max_queries=queries)
    try:
        result = get_searcher(searcher_name, **opts).search(space, ev, budget,
                                                            random.Random(seed))
    except SlimnasError as e:
        # only acceptable failure: greedy's query cap ran out before it reached the budget
        assert searcher_name == "greedy" and "ran out" in str(e)
        return
    assert ev.queries <= queries
    check = budget.fits if searcher_name == "greedy" else budget.legal
    assert check(flops_of(space, result.best))
    assert result.best_score == ev.cache[result.best]
    for row in result.top_k:
        assert check(row["flops"]) and row["flops"] == flops_of(space, row["widths"])
    if searcher_name != "greedy":
        assert all(budget.legal(h["flops"]) for h in result.history)
        keys = [h["key"] for h in result.history]
        assert len(keys) == len(set(keys))  # no architecture evaluated twice
        assert result.best_score == max(h["score"] for h in result.history)


def test_registry_names_and_options():
    assert isinstance(get_searcher("evolution"), EvolutionSearcher)
    assert isinstance(get_searcher("random", samples=5), RandomSearcher)
    assert isinstance(get_searcher("greedy"), GreedySearcher)
    with pytest.raises(SlimnasError, match="evolution, greedy, random"):
        get_searcher("annealing")
    with pytest.raises(SlimnasError, match="no option 'populaton'"):
        get_searcher("evolution", populaton=5)
    with pytest.raises(SlimnasError):
        get_searcher("evolution", batch=2, explore=2)


def test_plain_evolution_follows_the_authors_schedule_without_a_cap():
    space = bench_space("mobilenet")
    budget = Budget(flops_of(space, space.max_widths()) // 2)
    s = EvolutionSearcher(surrogate=False, flops_aware=False, local_search=False,
                          population=10, top_k=3, mutations=4, crossovers=4, generations=3)
    r = s.search(space, Linear(7, 0), budget, random.Random(0))
    gens = [h["generation"] for h in r.history]
    assert sorted(set(gens)) == [0, 1, 2, 3]
    assert all(gens.count(g) == 10 for g in range(4))  # children + fill = population
    assert len(r.top_k) == 3  # top_k sets both the parents and the output
    assert r.top_k[0]["score"] == r.best_score


def test_guided_evolution_spends_the_cap_and_beats_random():
    space = get_space("plaincnn", depth=5, bins=6, width=24)
    budget = Budget(flops_of(space, space.max_widths()) // 2)
    wins = 0
    for seed in range(5):
        f = Linear(space.num_groups, seed)
        evo = EvolutionSearcher().search(space, CachedEvaluator(f, 40), budget,
                                         random.Random(seed))
        rnd = RandomSearcher().search(space, CachedEvaluator(f, 40), budget, random.Random(seed))
        assert len(evo.history) == 40 and evo.exhausted
        wins += evo.best_score >= rnd.best_score
    assert wins >= 4


def test_init_sampler_output_is_filtered():
    space = bench_space("resnet")
    budget = Budget(flops_of(space, space.max_widths()) // 4)

    def junk_init(rng, n):
        # illegal full width, repeats and a few uniformly drawn vectors
        return [space.max_widths()] * 3 + [space.sample(rng) for _ in range(n)]

    for s in (EvolutionSearcher(), EvolutionSearcher(surrogate=False), RandomSearcher()):
        r = s.search(space, CachedEvaluator(Linear(7, 1), 30), budget, random.Random(0),
                     init=junk_init)
        assert all(budget.legal(h["flops"]) for h in r.history)
        assert len({h["key"] for h in r.history}) == len(r.history) == 30


def test_greedy_slims_one_bin_at_a_time_until_it_fits():
    space = bench_space("mobilenet")
    budget = Budget(flops_of(space, space.max_widths()) // 3)
    r = GreedySearcher().search(space, Linear(7, 2), budget, random.Random(0))
    assert budget.fits(r.best_flops)
    assert r.top_k[0]["widths"] == list(r.best)
    path = [h for h in r.history]
    assert path[0]["widths"] == [4] * 7
    # every evaluated vector is one bin below some earlier one
    for h in path[1:]:
        assert any(sum(a - b for a, b in zip(p["widths"], h["widths"], strict=True)) == 1
                   and all(a >= b for a, b in zip(p["widths"], h["widths"], strict=True))
                   for p in path if p["generation"] == h["generation"] - 1)
    with pytest.raises(SlimnasError, match="ran out"):
        GreedySearcher().search(space, CachedEvaluator(Linear(7, 2), 3), budget,
                                random.Random(0))


def test_search_does_not_import_torch():
    code = (
        "import random, sys\n"
        "from slimnas.search import Budget, get_searcher\n"
        "from slimnas.search.costs import flops_of\n"
        "from slimnas.width.spaces import get_space\n"
        "s = get_space('plaincnn', depth=4, bins=5)\n"
        "b = Budget(flops_of(s, s.max_widths()) // 2)\n"
        "class F:\n"
        "    def score(self, w): return float(sum(w))\n"
        "for n in ('evolution', 'random', 'greedy'):\n"
        "    get_searcher(n).search(s, F(), b, random.Random(0))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("name, option, value, needle", [
    ("evolution", "population", 0, "population must be an integer >= 1"),
    ("evolution", "top_k", 0, "top_k must be an integer >= 1"),
    ("evolution", "mutations", -1, "mutations must be an integer >= 0"),
    ("evolution", "crossovers", 2.5, "crossovers must be an integer >= 0"),
    ("evolution", "generations", "20", "generations must be an integer"),
    ("evolution", "population", True, "population must be an integer"),
    ("evolution", "mutate_prob", 1.5, r"mutate_prob must be a number in \[0.0, 1.0\]"),
    ("evolution", "mutate_prob", -0.1, "mutate_prob"),
    ("evolution", "mutate_prob", float("nan"), "mutate_prob"),
    ("evolution", "mutate_prob", True, "mutate_prob"),
    ("evolution", "surrogate", "yes", "surrogate must be true or false"),
    ("evolution", "local_search", 1, "local_search must be true or false"),
    ("evolution", "ridge", 0, "ridge must be a number in"),
    ("evolution", "linear", -1.0, "linear"),
    ("evolution", "batch_growth", float("inf"), "batch_growth"),
    ("evolution", "explore", -1, "explore must be an integer >= 0"),
    ("evolution", "pool", 0, "pool"),
    ("evolution", "flops_tries", None, "flops_tries"),
    ("evolution", "enumerate_limit", -5, "enumerate_limit"),
    ("random", "samples", 0, "samples must be an integer >= 1"),
    ("random", "samples", 1.5, "samples"),
    ("random", "chunk", 0, "chunk must be an integer >= 1"),
    ("random", "top_k", False, "top_k"),
    ("greedy", "top_k", 0, "greedy option top_k"),
])
def test_bad_option_values_are_one_line_naming_the_option(name, option, value, needle):
    with pytest.raises(SlimnasError, match=needle) as info:
        get_searcher(name, **{option: value})
    msg = str(info.value)
    assert "\n" not in msg and option in msg and msg.startswith(f"{name} option {option}")


def test_good_option_values_are_kept():
    s = get_searcher("evolution", population=np.int64(8), mutate_prob=1, ridge=0.5,
                     surrogate=False)
    assert (s.population, s.mutate_prob, s.ridge, s.surrogate) == (8, 1.0, 0.5, False)
    assert isinstance(s.population, int) and isinstance(s.mutate_prob, float)
    assert get_searcher("random", samples=None).samples is None


def test_the_searcher_registry():
    from slimnas.search import SEARCHERS, searcher_names
    from slimnas.search.searchers import searcher_options

    assert searcher_names() == SEARCHERS.names() == ["evolution", "greedy", "random"]
    for cls in (EvolutionSearcher, GreedySearcher, RandomSearcher):
        assert SEARCHERS.get(cls.name) is cls and isinstance(get_searcher(cls.name), cls)
    assert "population" in searcher_options("evolution")
    with pytest.raises(SlimnasError, match="unknown searcher 'nope'; known: evolution, greedy"):
        get_searcher("nope")
    with pytest.raises(SlimnasError, match="searcher 'random' has no option 'pool'"):
        get_searcher("random", pool=3)
