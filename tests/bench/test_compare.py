"""Paired bootstrap rank statistics (`slimnas.bench.compare`) on synthetic tables whose
answer is known."""

import numpy as np
import pytest
from scipy.stats import kendalltau

from slimnas.bench.compare import FLOPS, compare_scorers, decide
from slimnas.errors import SlimnasError


def _tables(n=40, truth_noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    keys = [f"k{i}" for i in range(n)]
    flops = {k: 1e6 * (1 + rng.random() * 0.1) for k in keys}  # a narrow window: FLOPs say little
    quality = {k: rng.normal() for k in keys}
    truth = {k: [quality[k] + truth_noise * rng.normal() for _ in range(3)] for k in keys}
    good = [{k: quality[k] + 0.3 * rng.normal() for k in keys} for _ in range(2)]
    bad = [{k: rng.normal() for k in keys} for _ in range(2)]
    return keys, truth, flops, good, bad


def test_a_scorer_that_knows_the_truth_beats_noise_and_flops_with_paired_intervals():
    keys, truth, flops, good, bad = _tables()
    res = compare_scorers({"good": good, "bad": bad}, truth, flops, n_boot=300, seed=1)
    g, b = res["scorers"]["good"], res["scorers"]["bad"]
    assert g["kendall_tau"] > 0.5 and abs(b["kendall_tau"]) < 0.25
    lo, hi = g["intervals"]["kendall_tau"]
    assert lo < g["kendall_tau"] < hi
    assert res["differences"]["good - bad"]["kendall_tau"]["interval"][0] > 0
    verdict = decide(res, ["good"], ["bad", FLOPS])
    assert verdict["holds"] and set(verdict["pairs"]) == {"good - bad", f"good - {FLOPS}"}
    assert not decide(res, ["bad"], ["good"])["holds"]
    # the truth's own seeds agree (noise 0.3 on unit-variance quality): a high ceiling
    assert res["ceiling"]["kendall_tau"] > 0.6
    pairs = res["ceiling"]["pairs"]
    assert list(pairs) == ["0-1", "0-2", "1-2"]
    assert pairs["0-2"] == pytest.approx(
        kendalltau([truth[k][0] for k in keys], [truth[k][2] for k in keys])[0], abs=1e-12)
    assert np.mean(list(pairs.values())) == pytest.approx(res["ceiling"]["kendall_tau"])
    assert res["architectures"] == 40 and res["truth_seeds"] == 3
    # each seed's own statistics, whose mean is the point value
    mean = [np.mean(truth[k]) for k in keys]
    own = [kendalltau([t[k] for k in keys], mean)[0] for t in good]
    assert g["per_seed"]["kendall_tau"] == pytest.approx(own, abs=1e-12)
    assert np.mean(g["per_seed"]["kendall_tau"]) == pytest.approx(g["kendall_tau"], abs=1e-12)
    assert len(res["scorers"][FLOPS]["per_seed"]["spearman"]) == 1
    # seeded: the same intervals again
    again = compare_scorers({"good": good, "bad": bad}, truth, flops, n_boot=300, seed=1)
    assert again["scorers"]["good"]["intervals"] == g["intervals"]


def test_two_scorers_of_equal_skill_are_not_declared_different():
    keys, truth, flops, good, _ = _tables(seed=2)
    rng = np.random.default_rng(9)
    twin = [{k: v + 0.3 * rng.normal() for k, v in t.items()} for t in good]
    res = compare_scorers({"a": good, "b": twin}, truth, flops, n_boot=300)
    lo, hi = res["differences"]["a - b"]["kendall_tau"]["interval"]
    assert lo < 0 < hi
    assert not decide(res, ["a"], ["b"])["holds"]


def test_beyond_flops_removes_what_flops_explain():
    rng = np.random.default_rng(3)
    keys = [f"k{i}" for i in range(30)]
    flops = {k: 10 ** (6 + 2 * rng.random()) for k in keys}
    truth = {k: [np.log(flops[k]) + 0.01 * rng.normal() for _ in range(2)] for k in keys}
    flops_copy = [{k: np.log(flops[k]) for k in keys}]
    res = compare_scorers({"flops twin": flops_copy}, truth, flops, n_boot=50)
    s = res["scorers"]["flops twin"]
    assert s["kendall_tau"] > 0.9 and abs(s["kendall_tau_beyond_flops"]) < 0.4


def test_bad_tables_are_refused():
    keys, truth, flops, good, _ = _tables(n=3)
    with pytest.raises(SlimnasError, match="need >= 4"):
        compare_scorers({"g": good}, truth, flops)
    keys, truth, flops, good, _ = _tables()
    truth = {k: v[:1] for k, v in truth.items()}
    with pytest.raises(SlimnasError, match="same number"):
        compare_scorers({"g": good}, truth, flops)
