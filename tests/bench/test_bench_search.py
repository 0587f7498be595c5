"""The benchmark as evaluator and ranker: true means, true ranks, and searchers on the real
Channel-Bench-Macro (the guided evolution finds top architectures)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from slimnas.bench import BenchmarkEvaluator, bench_space, load_bench, true_rank
from slimnas.errors import SlimnasError
from slimnas.search import Budget, CachedEvaluator, get_searcher
from slimnas.search.costs import flops_of

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/channel_bench_macro"
pytestmark = pytest.mark.skipif(not (DATA / "Results_MobileNet.json").is_file(),
                                reason=f"no benchmark data at {DATA}")


@pytest.fixture
def bench_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLIMNAS_BENCH_DIR", str(DATA))
    return DATA


def _budget(space_name: str, fraction: float) -> tuple:
    space = bench_space(space_name)
    return space, Budget(int(round(fraction * flops_of(space, space.max_widths()))))


def test_benchmark_evaluator_returns_the_true_mean(bench_dir):
    ev = BenchmarkEvaluator("mobilenet")
    assert ev.score((4, 4, 4, 4, 3, 4, 2)) == pytest.approx(91.887, abs=1e-3)
    with pytest.raises(SlimnasError):
        ev.score((5, 4, 4, 4, 3, 4, 2))
    with pytest.raises(SlimnasError):
        ev.score((4, 4, 4))


def test_true_rank_counts_strictly_better_entries_under_the_budget(bench_dir):
    entries = load_bench("mobilenet")
    best = max(entries, key=lambda k: entries[k]["mean"])
    assert best == "4444342"
    assert true_rank("mobilenet", best, 10**12) == 1
    assert true_rank("mobilenet", int(best), 10**12) == 1
    worst = min(entries, key=lambda k: entries[k]["mean"])
    assert true_rank("mobilenet", worst, 10**12) == len(entries)
    # under a budget only cheaper entries count
    f = entries["2222222"]["flops"]
    m = entries["2222222"]["mean"]
    want = 1 + sum(1 for v in entries.values() if v["flops"] <= f and v["mean"] > m)
    assert true_rank("mobilenet", "2222222", f) == want
    with pytest.raises(SlimnasError, match="not in"):
        true_rank("mobilenet", "4444445", f)


@pytest.mark.parametrize("seed", [0, 1])
def test_evolution_with_1000_queries_reaches_the_top_3(bench_dir, seed):
    space, budget = _budget("mobilenet", 0.5)
    ev = CachedEvaluator(BenchmarkEvaluator("mobilenet"), max_queries=1000)
    r = get_searcher("evolution").search(space, ev, budget, random.Random(seed))
    assert ev.queries == 1000 and r.exhausted
    assert budget.legal(r.best_flops)
    assert true_rank("mobilenet", space.key(r.best), budget.flops) <= 3


@pytest.mark.parametrize("space_name", ["mobilenet", "resnet"])
def test_evolution_smoke_at_100_queries(bench_dir, space_name):
    space, budget = _budget(space_name, 0.25)
    ev = CachedEvaluator(BenchmarkEvaluator(space_name), max_queries=100)
    r = get_searcher("evolution").search(space, ev, budget, random.Random(0))
    assert ev.queries == 100 and len(r.history) == 100
    assert all(budget.legal(h["flops"]) for h in r.history)
    assert [h["score"] for h in r.top_k] == sorted((h["score"] for h in r.top_k), reverse=True)
    # loose: the guided search is far better than chance (random's median is ~10-30)
    assert true_rank(space_name, space.key(r.best), budget.flops) <= 10


def test_greedy_and_random_on_the_benchmark(bench_dir):
    space, budget = _budget("resnet", 0.5)
    inner = BenchmarkEvaluator("resnet")
    g = get_searcher("greedy").search(space, CachedEvaluator(inner), budget, random.Random(0))
    assert budget.fits(g.best_flops)
    r = get_searcher("random").search(space, CachedEvaluator(inner, 50), budget,
                                      random.Random(0))
    assert len(r.history) == 50 and all(budget.legal(h["flops"]) for h in r.history)
