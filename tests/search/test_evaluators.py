"""Cached evaluation, query caps and score tables (the benchmark evaluator: tests/bench)."""

from __future__ import annotations

import json

import pytest

from slimnas.bench import bench_space
from slimnas.errors import SlimnasError
from slimnas.search import (
    CachedEvaluator,
    Evaluator,
    QueryBudgetExhausted,
    ScoreTableEvaluator,
    load_score_table,
)


class Counting(Evaluator):
    def __init__(self):
        self.calls: list[tuple[int, ...]] = []

    def score(self, widths):
        self.calls.append(tuple(widths))
        return float(sum(widths))


def test_cache_counts_distinct_queries():
    inner = Counting()
    ev = CachedEvaluator(inner)
    assert ev.score((1, 2, 3)) == 6.0
    assert ev.score([1, 2, 3]) == 6.0  # lists and tuples share one entry
    assert ev.score((3, 2, 1)) == 6.0
    assert inner.calls == [(1, 2, 3), (3, 2, 1)]
    assert ev.queries == 2 and ev.remaining is None and not ev.exhausted


def test_max_queries_refuses_new_architectures_only():
    inner = Counting()
    ev = CachedEvaluator(inner, max_queries=2)
    ev.score((1, 1))
    ev.score((1, 2))
    assert ev.exhausted and ev.remaining == 0
    with pytest.raises(QueryBudgetExhausted, match="2 architectures"):
        ev.score((2, 2))
    assert ev.score((1, 2)) == 3.0  # cached lookups stay free
    assert ev.queries == 2 and len(inner.calls) == 2
    assert issubclass(QueryBudgetExhausted, SlimnasError)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "5"])
def test_max_queries_below_one_or_not_an_integer_is_refused_at_once(bad):
    # a search needs at least one query: a cap of 0 fails when the evaluator is made
    with pytest.raises(SlimnasError, match=r"max_queries\) must be an integer >= 1") as info:
        CachedEvaluator(Counting(), max_queries=bad)
    assert "\n" not in str(info.value)


def test_score_table_with_int_and_string_keys():
    space = bench_space("mobilenet")
    ev = ScoreTableEvaluator({4444342: 91.8, "1111111": 89.0, " 2222222 ": {"score": 90.0},
                              "3333333": {"mean": 90.5}}, space)
    assert ev.score((4, 4, 4, 4, 3, 4, 2)) == 91.8
    assert ev.score((1,) * 7) == 89.0
    assert ev.score((2,) * 7) == 90.0
    assert ev.score((3,) * 7) == 90.5
    assert len(ev) == 4
    with pytest.raises(SlimnasError, match="4444444"):
        ev.score((4,) * 7)  # missing only fails when asked


@pytest.mark.parametrize("table, match", [
    ({"444": 1.0}, "entries"), ({"4444449": 1.0}, "outside"), ({"abcdefg": 1.0}, "malformed"),
    ({"4444444": "high"}, "not a number"), ({"4444444": True}, "not a number"),
    ({"4444444": {"acc": 1.0}}, "'score' or 'mean'"), ({"4444444": float("inf")}, "finite"),
    ({"4444444": 1.0, 4444444: 2.0}, "twice"),
])
def test_score_table_rejects_bad_entries(table, match):
    with pytest.raises(SlimnasError, match=match):
        ScoreTableEvaluator(table, bench_space("mobilenet"))


def test_load_score_table(tmp_path):
    space = bench_space("resnet")
    p = tmp_path / "scores.json"
    p.write_text(json.dumps({"4344424": {"score": 0.9}, "1111111": 0.1}))
    ev = load_score_table(p, space)
    assert ev.score((4, 3, 4, 4, 4, 2, 4)) == 0.9
    with pytest.raises(SlimnasError, match="no score table"):
        load_score_table(tmp_path / "missing.json", space)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SlimnasError, match="not valid JSON"):
        load_score_table(tmp_path / "bad.json", space)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SlimnasError, match="JSON object"):
        load_score_table(tmp_path / "list.json", space)
    (tmp_path / "str.json").write_text(json.dumps({"1111111": "x"}))
    with pytest.raises(SlimnasError, match=r"str\.json.*not a number|not a number"):
        load_score_table(tmp_path / "str.json", space)
