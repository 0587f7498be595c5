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
    ("evolution", "mutation", "gaussian", "mutation must be uniform or prior, got 'gaussian'"),
    ("evolution", "mutation", None, "mutation must be uniform or prior"),
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


# --- mutation from the learned prior (ALGORITHMS.md 1.6) ------------------------------------

def _peaked_prior(space, budget_flops, window=(0.8, 1.0), mode=2, mass=0.85):
    """A real PriorSampler whose every group puts `mass` on width `mode` (index mode - 1)."""
    from slimnas.search.prior import PriorSampler

    rng = random.Random(0)
    recs = [(1.0 + rng.random(), space.sample(rng)) for _ in range(50)]
    prior = PriorSampler(space, recs, budget_flops, window, steps=0)
    for g, theta in enumerate(prior.theta):
        p = np.full(len(theta), (1 - mass) / (len(theta) - 1))
        p[mode - space.c_min[g]] = mass
        prior.theta[g] = np.log(p)
    return prior


def _assert_frequencies(values: np.ndarray, lo: int, p: np.ndarray) -> None:
    """Each width's frequency within 4.5 binomial standard errors of p (fixed seeds)."""
    n = len(values)
    freq = np.bincount(values - lo, minlength=len(p)) / n
    tol = 4.5 * np.sqrt(p * (1 - p) / n)
    assert (np.abs(freq - p) <= tol).all(), (freq, p)


def test_prior_mutation_draws_genes_with_the_priors_frequencies():
    from slimnas.search.operators import gene_probs, mutate, mutate_array

    space = bench_space("mobilenet")
    prior = _peaked_prior(space, 1e9)
    probs = gene_probs(space, prior.probs)
    np.testing.assert_allclose(probs[0], [0.05, 0.85, 0.05, 0.05])
    parent = space.max_widths()
    n = 4000
    rng = random.Random(0)
    scalar = np.array([mutate(space, parent, rng, 1.0, probs) for _ in range(n)])
    array = mutate_array(space, np.array([parent]), n, np.random.default_rng(0), 1.0, probs)
    uniform = np.array([mutate(space, parent, rng, 1.0) for _ in range(n)])
    flat = np.full(4, 0.25)
    for g in range(space.num_groups):
        _assert_frequencies(scalar[:, g], space.c_min[g], probs[g])
        _assert_frequencies(array[:, g], space.c_min[g], probs[g])
        _assert_frequencies(uniform[:, g], space.c_min[g], flat)  # the control
    # a gene is redrawn with probability mutate_prob, from the prior
    half = np.array([mutate(space, parent, rng, 0.5, probs) for _ in range(n)])
    kept = 0.5 + 0.5 * probs[0][-1]  # not redrawn, or redrawn as the parent's width 4
    assert abs((half[:, 0] == 4).mean() - kept) < 4.5 * np.sqrt(kept * (1 - kept) / n)


def test_gene_probs_are_checked_against_the_space():
    from slimnas.search.operators import gene_probs

    space = bench_space("mobilenet")
    with pytest.raises(SlimnasError, match="6 groups, the space 7"):
        gene_probs(space, [np.ones(4)] * 6)
    with pytest.raises(SlimnasError, match="group 2 must be 4 non-negative probabilities"):
        gene_probs(space, [np.ones(4)] * 2 + [np.array([1.0, -1.0, 0.5, 0.5])] + [np.ones(4)] * 4)
    assert all(p.sum() == pytest.approx(1) for p in gene_probs(space, [np.ones(4)] * 7))


@pytest.mark.parametrize("mutation, lo, hi", [("prior", 0.7, 1.0), ("uniform", 0.0, 0.45)])
def test_plain_evolution_redraws_mutated_genes_from_the_prior(mutation, lo, hi):
    space = bench_space("mobilenet")
    full = flops_of(space, space.max_widths())
    budget = Budget(full, (0.01, 1.0))  # every vector is legal: only the prior shapes them
    prior = _peaked_prior(space, full, budget.window)
    s = EvolutionSearcher(surrogate=False, flops_aware=False, local_search=False,
                          population=20, top_k=5, mutations=20, crossovers=0, generations=3,
                          mutate_prob=1.0, mutation=mutation)
    r = s.search(space, Linear(7, 0), budget, random.Random(0), init=prior)
    children = np.array([h["widths"] for h in r.history if h["generation"] >= 1])
    assert len(children) == 60
    share = (children == 2).mean()  # the prior's mode, in every group
    assert lo <= share <= hi, share


@pytest.mark.parametrize("surrogate", [True, False])
def test_both_evolution_loops_pass_the_prior_to_mutation(monkeypatch, surrogate):
    import slimnas.search.evolution as evolution

    seen = []
    for name in ("mutate", "mutate_array"):
        real = getattr(evolution, name)

        def spy(*args, _real=real, _nargs=5 if name == "mutate" else 6):
            assert len(args) == _nargs  # the loops pass probs positionally, last
            seen.append(args[-1])
            return _real(*args)

        monkeypatch.setattr(evolution, name, spy)
    space = bench_space("mobilenet")
    full = flops_of(space, space.max_widths())
    budget = Budget(full // 2)
    prior = _peaked_prior(space, budget.flops)
    opts = dict(surrogate=surrogate, population=10, mutations=5, crossovers=5, generations=2)
    s = EvolutionSearcher(mutation="prior", **opts)
    s.search(space, CachedEvaluator(Linear(7, 0), 40), budget, random.Random(0), init=prior)
    assert seen and all(p is not None for p in seen)
    for got in seen:
        np.testing.assert_allclose(np.concatenate(got), np.concatenate(prior.probs))
    seen.clear()
    EvolutionSearcher(**opts).search(space, CachedEvaluator(Linear(7, 0), 40), budget,
                                     random.Random(0), init=prior)
    assert seen and all(p is None for p in seen)  # uniform: no prior passed


def test_prior_mutation_without_a_prior_is_one_clear_line_before_any_query():
    space = bench_space("mobilenet")
    budget = Budget(flops_of(space, space.max_widths()) // 2)
    s = get_searcher("evolution", mutation="prior")
    assert s.needs_prior and not get_searcher("evolution").needs_prior

    def plain_init(rng, n):  # an init sampler that is not a learned prior
        return [space.sample(rng) for _ in range(n)]

    for init in (None, plain_init):
        ev = CachedEvaluator(Linear(7, 0), 40)
        with pytest.raises(SlimnasError) as info:
            s.search(space, ev, budget, random.Random(0), init=init)
        msg = str(info.value)
        assert msg == ("evolution option mutation prior redraws genes from the learned prior, "
                       "but this search has none: use search.init prior, or mutation uniform")
        assert ev.queries == 0


def test_run_refuses_prior_mutation_with_a_random_init_before_any_work(tmp_path):
    from slimnas.config import load_config
    from slimnas.pipeline import run

    out = tmp_path / "run"
    cfg = load_config(overrides=[f"out={out}", "search.init=random",
                                 "search.options.mutation=prior"])
    with pytest.raises(SlimnasError, match="search.options.mutation prior .* needs "
                                           "search.init prior") as info:
        run(cfg, progress=False, log=None)
    assert "\n" not in str(info.value) and not out.exists()
