"""Latency tables: structure, resume, predictions = sums of entries, refusals, the cost's
exact expectation for the prior, and latency budgets honoured by every searcher.

Nothing here asserts a wall-clock figure: timings are replaced by a deterministic fake
wherever a value matters, and real (tiny) measurements only check structure.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import slimnas.latency as L
from slimnas.errors import SlimnasError
from slimnas.search import Budget, CachedEvaluator, check_feasible, get_searcher
from slimnas.search.budget import parse_cost_budget
from slimnas.search.costs import MACS, PARAMS
from slimnas.search.prior import PriorSampler
from slimnas.width.spaces import get_space

OPTIONS = {"evolution": dict(pool=300), "random": {}, "greedy": {},
           "evolution-plain": dict(surrogate=False, flops_aware=False, local_search=False,
                                   population=12, top_k=4, mutations=6, crossovers=6)}


def tiny_space(family: str = "cbm-mobilenet", bins: int = 3):
    return get_space(family, bins=bins, min_bins=1, num_classes=10, width_mult=0.125,
                     input_size=8, in_channels=1)


def fake_ms(shape: dict) -> float:
    """A deterministic 'time' of a layer shape: grows with its work, plus a hash jitter."""
    cin = shape.get("cin", shape.get("channels"))
    area = shape["size"] ** 2 if "size" in shape else int(np.prod(shape.get("hw", [1])))
    work = cin * shape.get("cout", shape.get("classes", 1)) * area
    h = int(hashlib.sha256(L.signature(shape).encode()).hexdigest()[:8], 16) / 16**8
    return 1e-4 * work / (shape["cin"] if shape.get("depthwise") else 1) + 0.01 + 0.01 * h


@pytest.fixture
def fake_timer(monkeypatch):
    """Replace timing: layers by `fake_ms`, whole networks by their layers' sum + 0.05."""
    calls = []

    def measure(module, input_shape, batch, threads, device, min_run_time=0.1, warmup=3):
        shape = module._fake_shape
        calls.append(L.signature(shape))
        return fake_ms(shape)

    real_layer_module = L.layer_module

    def layer_module(shape):
        m, s = real_layer_module(shape)
        m._fake_shape = shape
        return m, s

    def measure_network(space, widths, batch, threads, device, min_run_time=0.1):
        ch = space.channels_of(widths)
        return 0.05 + sum(fake_ms(s.shape(ch)) for s in L.sites(space))

    monkeypatch.setattr(L, "measure", measure)
    monkeypatch.setattr(L, "layer_module", layer_module)
    monkeypatch.setattr(L, "measure_network", measure_network)
    return calls


def test_table_structure_and_predictions_are_sums_of_entries(tmp_path, fake_timer):
    space = tiny_space()
    table = L.build_table(space, tmp_path / "t.json", batch=2, threads=1, passes=1)
    sites = L.sites(space)
    assert [t["layer"] for t in table["terms"]] == [s.name for s in sites]
    assert sites[-1].name == "head"
    for t, s in zip(table["terms"], sites, strict=True):
        assert tuple(t["groups"]) == s.groups and 1 <= len(s.groups) <= 2
        assert np.asarray(t["ms"]).shape == tuple(space.c_max[g] - space.c_min[g] + 1
                                                  for g in s.groups)
    # identical layer shapes are measured once
    assert len(fake_timer) == len(set(fake_timer)) == len(table["entries"])
    assert table["constant_ms"] == pytest.approx(0.05)  # the fake networks' overhead
    assert table["batch"] == 2 and table["threads"] == 1
    for key in ("cpu", "torch", "device", "platform"):
        assert key in table["machine"]
    assert json.loads((tmp_path / "t.json").read_text()) == json.loads(json.dumps(table))
    cost = L.LatencyCost(table, space)
    rng = random.Random(0)
    for _ in range(20):
        w = space.sample(rng)
        ch = space.channels_of(w)
        by_hand = table["constant_ms"] + sum(
            table["entries"][L.signature(s.shape(ch))] for s in sites)
        assert cost.of(space, w) == pytest.approx(by_hand, rel=1e-12)
        # the fake network is its layers + 0.05, so the table predicts it exactly
        assert cost.of(space, w) == pytest.approx(
            L.measure_network(space, w, 1, 1, "cpu"), rel=1e-9)
    grid = np.array([space.sample(rng) for _ in range(30)])
    assert np.allclose(cost.batch(space, grid), [cost.of(space, w) for w in grid])


def test_a_depthwise_conv_depends_on_one_group_and_the_stem_on_its_output():
    space = tiny_space()
    sites = L.sites(space)
    spec_convs = [c for c, _ in space.spec.convs()]
    adds = [b for b in space.spec.blocks if b.shortcut != "none"]
    assert adds and len(sites) == len(spec_convs) + len(adds) + 1
    assert [s.groups for s in sites if s.name.endswith(".add")] == [(b.cout,) for b in adds]
    convs = [s for s in sites if ".convs." in s.name or s.name.endswith(".shortcut")]
    for s, conv in zip(convs, spec_convs, strict=True):
        if conv.depthwise or conv.cin < 0:
            assert s.groups == (conv.cout,)
        else:
            assert set(s.groups) == {conv.cin, conv.cout}


def test_build_resumes_measuring_only_what_is_missing(tmp_path, fake_timer, monkeypatch):
    space = tiny_space()
    path = tmp_path / "t.json"
    done = []
    real = L.measure

    def dying(*a, **k):
        if len(done) == 2 * L.SAVE_EVERY + 3:
            raise KeyboardInterrupt
        done.append(1)
        return real(*a, **k)

    monkeypatch.setattr(L, "measure", dying)
    with pytest.raises(KeyboardInterrupt):
        L.build_table(space, path, passes=1)
    partial = json.loads(path.read_text())
    assert len(partial["entries"]) == 2 * L.SAVE_EVERY and partial["terms"] is None
    with pytest.raises(SlimnasError, match="unfinished"):
        L.load_table(path)
    with pytest.raises(SlimnasError, match="another passes"):
        L.build_table(space, path, passes=3)
    monkeypatch.setattr(L, "measure", real)
    before = len(fake_timer)
    table = L.build_table(space, path, passes=1)
    measured_again = fake_timer[before:]
    assert not set(measured_again) & set(partial["entries"])
    assert len(table["entries"]) == len(set(fake_timer))
    fresh = L.build_table(space, tmp_path / "fresh.json", passes=1)
    assert fresh["entries"] == table["entries"] and fresh["terms"] == table["terms"]
    assert L.build_table(space, path, passes=1) == L.load_table(path)  # finished: as is


def test_every_entry_is_the_minimum_of_its_passes(tmp_path, monkeypatch):
    space = tiny_space()
    noise = iter(np.random.default_rng(0).uniform(1.0, 2.0, size=100_000))
    monkeypatch.setattr(L, "measure", lambda *a, **k: float(next(noise)))
    monkeypatch.setattr(L, "measure_network", lambda *a, **k: float(next(noise)) + 10)
    table = L.build_table(space, tmp_path / "t.json", passes=3)
    assert table["passes"] == 3
    for sig, times in table["runs"].items():
        assert len(times) == 3 and table["entries"][sig] == min(times)


def test_a_table_of_other_settings_is_refused(tmp_path, fake_timer, monkeypatch):
    space = tiny_space()
    path = tmp_path / "t.json"
    table = L.build_table(space, path, threads=1)
    with pytest.raises(SlimnasError, match="another batch"):
        L.build_table(space, path, batch=4)
    with pytest.raises(SlimnasError, match="another space"):
        L.build_table(tiny_space(bins=4), path)
    L.check_table(table, space, 1)
    with pytest.raises(SlimnasError, match="another space"):
        L.check_table(table, tiny_space(bins=4), 1)
    with pytest.raises(SlimnasError, match="another space"):
        L.check_table(table, tiny_space("cbm-resnet"), 1)
    with pytest.raises(SlimnasError, match="2"):
        L.check_table(table, space, 2)
    # another CPU (same model name, another chip): a warning, not a refusal
    assert table["machine"]["cpu_id"] == L.cpu_identity()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.check_table(table, space, 1)  # this CPU: silent
    other = {**table, "machine": {**table["machine"], "cpu_id": "GenuineIntel 6 85 7, avx2"}}
    with pytest.warns(RuntimeWarning, match="another CPU"):
        L.check_table(other, space, 1)
    with monkeypatch.context() as m:
        m.setattr(L, "cpu_identity", lambda: "AuthenticAMD 25 1 1")
        with pytest.raises(SlimnasError, match="another cpu_id"):
            L.build_table(space, path, threads=1)  # resuming it here would mix two chips
    monkeypatch.setattr(L, "_torch_version", lambda: "0.0.1")
    with pytest.raises(SlimnasError, match="torch 0.0.1|rebuild"):
        L.check_table(table, space, 1)
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(SlimnasError, match="not a slimnas latency table"):
        L.build_table(space, tmp_path / "x.json")
    with pytest.raises(SlimnasError, match="does not exist"):
        L.load_table(tmp_path / "none.json")


def test_a_real_tiny_table_measures_positive_times(tmp_path):
    space = tiny_space(bins=2)
    table = L.build_table(space, tmp_path / "t.json", min_run_time=0.001, constant_widths=2)
    assert all(v > 0 for v in table["entries"].values())
    assert np.isfinite(table["constant_ms"])
    res = L.check_predictions(space, table, 3, min_run_time=0.001)
    assert res["n"] == 3 and len(res["widths"]) == 3
    for r in res["widths"]:
        assert r["latency_ms_measured"] > 0 and r["latency_ms_predicted"] > 0


# --- the cost in the search: budgets, the prior ------------------------------------------
def test_latency_budgets_parse_with_units_or_as_fractions():
    cost = L.LatencyCost
    assert parse_cost_budget("5ms", 10.0, cost) == 5.0
    assert parse_cost_budget("800us", 10.0, cost) == pytest.approx(0.8)
    assert parse_cost_budget("0.002s", 10.0, cost) == pytest.approx(2.0)
    assert parse_cost_budget("0.5", 10.0, cost) == 5.0
    assert parse_cost_budget(0.25, 8.0, cost) == 2.0
    for bad in ("5", "fast", "-1ms", "0ms", "5 parsecs", True, None):
        with pytest.raises(SlimnasError, match="latency budget"):
            parse_cost_budget(bad, 10.0, cost)
    assert parse_cost_budget("1.5M", 1, PARAMS) == 1_500_000
    assert parse_cost_budget("0.5", 1000, MACS) == 500


def synthetic_table(space, seed: int) -> dict:
    r = np.random.default_rng(seed)
    terms = []
    for s in L.sites(space):
        dims = [space.c_max[g] - space.c_min[g] + 1 for g in s.groups]
        base = r.uniform(0.01, 0.2, size=dims)
        for axis in range(len(dims)):  # grows with width, as times do (not required)
            base = np.cumsum(base, axis=axis)
        terms.append({"layer": s.name, "groups": list(s.groups), "ms": base.tolist()})
    return {"constant_ms": float(r.uniform(0, 1)), "terms": terms}


def enumerate_expectation(space, cost, probs) -> float:
    total = 0.0
    axes = [range(space.c_min[g], space.c_max[g] + 1) for g in range(space.num_groups)]
    for w in itertools.product(*axes):
        p = np.prod([probs[g][v - space.c_min[g]] for g, v in enumerate(w)])
        total += p * cost.of(space, w)
    return total


@pytest.mark.parametrize("which", ["latency", "params"])
def test_the_expected_cost_and_its_gradient_are_exact(which):
    space = tiny_space("cbm-resnet", bins=3)
    cost = L.LatencyCost(synthetic_table(space, 1), space) if which == "latency" else PARAMS
    form = cost.form(space)
    r = np.random.default_rng(0)
    probs = [r.dirichlet(np.ones(space.c_max[g] - space.c_min[g] + 1))
             for g in range(space.num_groups)]
    assert form.expected(probs) == pytest.approx(enumerate_expectation(space, cost, probs),
                                                 rel=1e-10)
    grads = form.expected_grad(probs)
    eps = 1e-6
    for g in (0, space.num_groups - 1):
        for i in range(len(probs[g])):
            up = [p.copy() for p in probs]
            up[g][i] += eps
            dn = [p.copy() for p in probs]
            dn[g][i] -= eps
            fd = (form.expected(up) - form.expected(dn)) / (2 * eps)
            assert grads[g][i] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_the_prior_learns_towards_a_latency_target_and_samples_inside_the_window():
    space = tiny_space("cbm-mobilenet", bins=4)
    cost = L.LatencyCost(synthetic_table(space, 3), space)
    full = cost.of(space, space.max_widths())
    rng = random.Random(0)
    records = [(float(rng.random()), space.sample(rng)) for _ in range(200)]
    prior = PriorSampler(space, records, 0.6 * full, (0.8, 1.0), lam=5.0, steps=2000,
                         cost=cost)
    assert prior.expected_flops() == pytest.approx(0.6 * full, rel=0.1)
    for w in prior.sample(random.Random(1), 20):
        assert 0.8 * 0.6 * full <= cost.of(space, w) <= 0.6 * full


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(["cbm-mobilenet", "cbm-resnet", "plaincnn"]),
       fraction=st.floats(0.2, 1.0), window_low=st.sampled_from([0.8, 0.9]),
       name=st.sampled_from(sorted(OPTIONS)), seed=st.integers(0, 10**6),
       queries=st.integers(5, 40))
def test_a_latency_budget_is_honoured_by_every_searcher(family, fraction, window_low, name,
                                                       seed, queries):
    space = _space(family)
    cost = L.LatencyCost(synthetic_table(space, seed % 7), space)
    budget = Budget(fraction * cost.of(space, space.max_widths()), (window_low, 1.0), cost)
    searcher = name.split("-")[0]
    try:
        check_feasible(space, budget, window=searcher != "greedy")
    except SlimnasError:
        assume(False)
    r = np.random.default_rng(seed)
    weights = r.normal(size=space.num_groups)
    scorer = type("S", (), {"score": lambda self, w: float(weights @ np.asarray(w, float))})()
    ev = CachedEvaluator(scorer, max_queries=queries)
    try:
        result = get_searcher(searcher, **OPTIONS[name]).search(space, ev, budget,
                                                                random.Random(seed))
    except SlimnasError as e:
        assert searcher == "greedy" and "ran out" in str(e)
        return
    check = budget.fits if searcher == "greedy" else budget.legal
    assert check(cost.of(space, result.best))
    for row in result.top_k:
        assert check(row["flops"]) and row["flops"] == pytest.approx(cost.of(space,
                                                                             row["widths"]))
    if searcher != "greedy":
        assert all(budget.legal(h["flops"]) for h in result.history)


_SPACES: dict = {}


def _space(family: str):
    if family not in _SPACES:
        _SPACES[family] = get_space("plaincnn", depth=4, bins=5, width=24) \
            if family == "plaincnn" else tiny_space(family, bins=4)
    return _SPACES[family]


# --- the main job with a latency budget ---------------------------------------------------
def _run_space(cfg):
    from slimnas.data import load_split
    from slimnas.width.context import make_space

    return make_space(cfg, load_split(cfg)[0])[0]


@pytest.mark.slow
def test_run_searches_under_a_latency_budget(tmp_path):
    from conftest import tiny_config

    from slimnas.pipeline import run

    cfg = tiny_config(tmp_path / "r", epochs=1)
    space = _run_space(cfg)
    table = L.build_table(space, tmp_path / "t.json", threads=cfg["threads"],
                          min_run_time=0.002, constant_widths=2)
    cost = L.LatencyCost(table, space)
    # real timings of a tiny net are mostly noise: a budget the smallest width surely fits
    ms = max(cost.of(space, space.min_widths()), cost.of(space, space.max_widths()))
    cfg["search"].update(queries=8, budget=f"{ms:.6f}ms", cost="latency",
                         latency_table=str(tmp_path / "t.json"), window=[0.0, 1.0])
    cfg["retrain"].update(epochs=1)
    res = run(cfg, progress=False)
    search = json.loads((tmp_path / "r" / "search.json").read_text())
    budget = search["budget_latency_ms_predicted"]
    assert search["cost"] == "latency" and "budget_flops_macs" not in search
    assert budget == pytest.approx(ms, rel=1e-5)
    for c in search["candidates"]:
        assert c["latency_ms_predicted"] <= budget
        assert c["latency_ms_predicted"] == pytest.approx(cost.of(space, c["widths"]))
        assert c["flops_macs"] > 0
    w = res["winner"]
    assert w["latency_ms_predicted"] == pytest.approx(cost.of(space, w["widths"]))
    assert w["latency_ms_measured"] > 0 and res["uniform"]["latency_ms_measured"] > 0
    assert res["uniform"]["latency_ms_predicted"] <= budget
    assert (tmp_path / "r" / "search.png").is_file()


def test_a_run_refuses_a_missing_or_foreign_table_before_training(tmp_path, fake_timer):
    from conftest import tiny_config

    from slimnas.pipeline import run

    cfg = tiny_config(tmp_path / "r")
    cfg["search"].update(cost="latency")
    with pytest.raises(SlimnasError, match="needs search.latency_table"):
        run(cfg, progress=False)
    cfg["search"]["latency_table"] = str(tmp_path / "none.json")
    with pytest.raises(SlimnasError, match="does not exist"):
        run(cfg, progress=False)
    L.build_table(_run_space(cfg), tmp_path / "t2.json", threads=2)
    cfg["search"]["latency_table"] = str(tmp_path / "t2.json")
    with pytest.raises(SlimnasError, match="thread"):
        run(cfg, progress=False)
    other = dict(cfg, space={"name": "cbm-mobilenet", "width_mult": 0.125})
    L.build_table(_run_space(other), tmp_path / "t3.json", threads=cfg["threads"])
    cfg["search"]["latency_table"] = str(tmp_path / "t3.json")
    with pytest.raises(SlimnasError, match="another space"):
        run(cfg, progress=False)
    assert not (tmp_path / "r").exists()


def test_cli_builds_and_checks_a_table(tmp_path, capsys):
    from slimnas.cli import main

    args = ["space={name: cbm-resnet, width_mult: 0.0625}"]
    out = tmp_path / "t.json"
    assert main(["latency", "build", *args, "--out", str(out), "--min-run-time", "0.001"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["threads"] == 1 and built["terms"] > 0 and out.is_file()
    assert main(["latency", "check", *args, "--table", str(out), "--n", "3",
                 "--out", str(tmp_path / "c.json")]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["n"] == 3 and -1 <= checked["kendall_tau"] <= 1
    assert len(json.loads((tmp_path / "c.json").read_text())["widths"]) == 3
    # another space's table: one line, exit status 2, the table untouched
    before = out.read_bytes()
    assert main(["latency", "check", "space={name: cbm-mobilenet, width_mult: 0.125}",
                 "--table", str(out)]) == 2
    assert "another space" in capsys.readouterr().err
    assert main(["latency", "build", "space={name: cbm-mobilenet, width_mult: 0.125}",
                 "--out", str(out)]) == 2
    assert out.read_bytes() == before


# --- a user's own model ------------------------------------------------------------------
def own_space():
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from own_models import ResidualSEConcatNet

    from slimnas import from_model

    return from_model(ResidualSEConcatNet(), torch.zeros(1, 3, 16, 16), bins=4)


def test_an_own_models_layers_follow_its_groups_and_resize_to_its_macs():
    from torch.utils.flop_counter import FlopCounterMode

    from slimnas.search.costs import flops_of

    space = own_space()
    by_name = {s.name: s for s in L.sites(space)}
    names = space.group_names
    assert {names[g] for g in by_name["fuse"].groups} == {"main", "side", "fuse"}  # concat
    assert by_name["se.reduce"].groups == (names.index("stem"),)  # follows what it gates
    assert "fc" in by_name and len(by_name["fc"].groups) == 1  # classes stay fixed
    rng = random.Random(0)
    import torch
    for w in [space.min_widths(), space.max_widths()] + [space.sample(rng) for _ in range(5)]:
        from slimnas.width.own.export import resize_layers

        net = resize_layers(space.spec.model, L.own_layer_sizes(space, w), "t")
        with FlopCounterMode(display=False) as fc:
            net(torch.zeros(1, 3, 16, 16))
        assert fc.get_total_flops() == 2 * flops_of(space, w)


def test_an_own_models_table_predicts_sums_and_its_expectation_is_exact(tmp_path, fake_timer):
    space = own_space()
    table = L.build_table(space, tmp_path / "t.json")
    cost = L.LatencyCost(table, space)
    assert any(len(t["groups"]) == 3 for t in table["terms"])
    rng = random.Random(1)
    for _ in range(10):
        w = space.sample(rng)
        assert cost.of(space, w) == pytest.approx(
            L.measure_network(space, w, 1, 1, "cpu"), rel=1e-9)
    r = np.random.default_rng(0)
    probs = [r.dirichlet(np.ones(space.c_max[g] - space.c_min[g] + 1))
             for g in range(space.num_groups)]
    form = cost.form(space)
    assert form.expected(probs) == pytest.approx(enumerate_expectation(space, cost, probs),
                                                 rel=1e-10)
    grads, eps = form.expected_grad(probs), 1e-6
    for g in range(space.num_groups):
        for i in range(len(probs[g])):
            up, dn = [p.copy() for p in probs], [p.copy() for p in probs]
            up[g][i] += eps
            dn[g][i] -= eps
            fd = (form.expected(up) - form.expected(dn)) / (2 * eps)
            assert grads[g][i] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_a_table_too_large_is_refused_before_measuring(tmp_path, fake_timer):
    with pytest.raises(SlimnasError, match="distinct layer shapes"):
        L.build_table(own_space(), tmp_path / "t.json", max_entries=10)
    assert not fake_timer and not (tmp_path / "t.json").exists()


def test_a_params_budget_is_honoured_and_its_prior_is_exact():
    from slimnas.flops import cost_model

    space = tiny_space("cbm-resnet", bins=4)
    full = PARAMS.of(space, space.max_widths())
    assert full == cost_model(space.spec).params(space.channels_of(space.max_widths()))
    budget = Budget(0.5 * full, (0.8, 1.0), PARAMS)
    ev = CachedEvaluator(type("S", (), {"score": lambda self, w: float(sum(w))})(),
                         max_queries=30)
    result = get_searcher("evolution").search(space, ev, budget, random.Random(0))
    assert budget.legal(PARAMS.of(space, result.best))
    assert "params" in budget.describe()
    rng = random.Random(0)
    records = [(float(rng.random()), space.sample(rng)) for _ in range(100)]
    prior = PriorSampler(space, records, 0.5 * full, (0.8, 1.0), cost=PARAMS, steps=500)
    assert prior.expected_flops() == pytest.approx(
        enumerate_expectation(space, PARAMS, prior.probs), rel=1e-10)
    for w in prior.sample(random.Random(2), 10):
        assert budget.legal(PARAMS.of(space, w))
