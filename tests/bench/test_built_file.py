"""Bench commands on a `bench build` file: its `<file>.meta.json` gives the space (keys,
FLOPs, params, the full width a budget fraction is of), a search considers only the built
architectures, and files with bad entries are refused by every command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from slimnas.bench import (
    BenchFile,
    BenchmarkEvaluator,
    load_bench,
    meta_path,
    open_bench,
    query,
    verify,
)
from slimnas.bench.build import bench_meta, stratified_archs
from slimnas.bench.rank import rank_correlation, read_score_table
from slimnas.bench.search import bench_search
from slimnas.cli import main
from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.io import read_json
from slimnas.search import Budget, CachedEvaluator, get_searcher
from slimnas.search.costs import flops_of
from slimnas.search.members import Members
from slimnas.width.spaces import get_space

REPO = Path(__file__).resolve().parents[2]
TRUTH = "benchmarks/results/fmnist_cbm_mobilenet_truth.json"
TINY_OPTIONS = {"in_channels": 1, "input_size": 8, "num_classes": 10, "width_mult": 0.0625}


def make_built(tmp_path: Path, n: int = 15, family: str = "cbm-mobilenet", bins: int = 4,
               seed: int = 0, name: str = "tiny.json", meta: bool = True,
               keys: list[str] | None = None) -> Path:
    """A built benchmark without training: stratified keys (or `keys`), closed-form
    flops/params and made-up accuracies, with its meta file (as `bench build` writes)."""
    space = get_space(family, bins=bins, min_bins=1, **TINY_OPTIONS)
    model = cost_model(space.spec)
    rng = random.Random(seed)
    entries = {}
    picks = stratified_archs(space, n, seed) if keys is None else map(space.parse, keys)
    for w in picks:
        ch = space.channels_of(w)
        accs = [rng.uniform(70, 90), rng.uniform(70, 90)]
        entries[space.key(w)] = {"acc": accs, "mean": sum(accs) / 2, "std": 1.0,
                                 "flops": model.macs(ch), "params": model.params(ch)}
    out = tmp_path / name
    out.write_text(json.dumps(entries))
    if meta:
        meta_path(out).write_text(json.dumps(bench_meta(family, TINY_OPTIONS, bins,
                                                        {"made_by": "the tests"})))
    return out


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- the issue's command on the committed built file -------------------------------------
def test_issue_command_on_the_real_built_file(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    code, out, err = _run(capsys, [
        "bench", "search", "--space", "mobilenet", "--file", TRUTH, "--budget", "0.5",
        "--searcher", "evolution", "--queries", "30", "--seeds", "1", "--json"])
    assert code == 0, err
    res = json.loads(out)
    truth = read_json(TRUTH)
    meta = read_json(TRUTH + ".meta.json")
    space = get_space(meta["space"], bins=meta["bins"], min_bins=meta["min_bins"],
                      **meta["options"])
    full = cost_model(space.spec).macs(space.channels_of(space.max_widths()))
    assert "4444444" not in truth  # the old code read bench["4444444"]: KeyError
    assert res["full_flops_macs"] == full
    assert res["budget_flops_macs"] == round(0.5 * full)
    assert "budget_flops" not in res and res["architectures"] == len(truth) == 100
    (run,) = res["runs"]
    assert run["arch"] in truth and run["flops_macs"] == truth[run["arch"]]["flops"]
    assert "flops" not in run
    assert 0.8 * res["budget_flops_macs"] <= run["flops_macs"] <= res["budget_flops_macs"]
    assert 1 <= run["rank"] <= len(truth) and run["queries_used"] <= 30


def test_real_built_file_matches_its_spaces_closed_form(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    meta = read_json(TRUTH + ".meta.json")
    assert (meta["space"], meta["bins"], meta["min_bins"]) == ("cbm-mobilenet", 4, 1)
    assert meta["options"] == {"in_channels": 1, "input_size": 28, "num_classes": 10,
                               "width_mult": 0.25}
    space = get_space("cbm-mobilenet", bins=4, **meta["options"])
    model = cost_model(space.spec)
    for key, e in read_json(TRUTH).items():
        ch = space.channels_of(space.parse(key))
        assert (e["flops"], e["params"]) == (model.macs(ch), model.params(ch)), key
    code, out, _ = _run(capsys, ["bench", "verify", "--space", "mobilenet", "--file", TRUTH])
    assert code == 0 and out.startswith("100/100 exact")


# --- a tiny built file --------------------------------------------------------------------
def test_verify_query_rank_use_the_meta_space(tmp_path, capsys):
    f = make_built(tmp_path)
    bench = open_bench("mobilenet", f)
    assert isinstance(bench, BenchFile) and bench.built
    assert bench.space.spec.options["width_mult"] == 0.0625
    report = verify("mobilenet", f)
    assert (report["n_total"], report["n_exact"], report["built"]) == (15, 15, True)
    key = next(iter(bench.entries))
    q = query("mobilenet", int(key), f)
    assert q["flops_macs"] == q["flops_macs_ours"] and q["params"] == q["params_ours"]
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps({k: e["mean"] for k, e in bench.entries.items()}))
    code, out, err = _run(capsys, ["bench", "rank", "--space", "mobilenet", "--file", str(f),
                                   "--scores", str(scores), "--json"])
    res = json.loads(out)
    assert code == 0, err
    assert res["all"]["kendall_tau"] == pytest.approx(1.0) and res["all"]["n"] == 15
    assert res["missing"] == 0
    assert res["no_ones"]["n"] == sum("1" not in k for k in bench.entries)
    table = read_score_table(scores, "mobilenet", f)  # keys read with the file's space
    assert rank_correlation("mobilenet", table, f) == res
    # the same file read as Channel-Bench-Macro (no meta): its FLOPs do not match
    meta_path(f).unlink()
    assert verify("mobilenet", f)["n_exact"] == 0


def test_keys_are_parsed_by_the_meta_space(tmp_path):
    f = make_built(tmp_path, n=10, bins=6)  # keys with digits up to 6: not CBM keys
    entries = load_bench("mobilenet", f)
    assert any("6" in k for k in entries)
    assert verify("mobilenet", f)["n_exact"] == 10
    meta_path(f).unlink()
    with pytest.raises(SlimnasError, match="bad architecture key"):
        load_bench("mobilenet", f)


@pytest.mark.parametrize("searcher", ["evolution", "random", "greedy"])
def test_search_on_a_built_file_considers_only_built_architectures(tmp_path, searcher):
    f = make_built(tmp_path, n=25)
    bench = open_bench("mobilenet", f)
    built = set(bench.entries)
    space = bench.space
    full = flops_of(space, space.max_widths())
    members = Members(space, list(built))
    flops = sorted(e["flops"] for e in bench.entries.values())
    for at in (flops[3], flops[12], flops[-1]):  # windows with a few built architectures
        budget = Budget(at)
        for seed in range(4):
            ev = CachedEvaluator(BenchmarkEvaluator("mobilenet", f), max_queries=10)
            r = get_searcher(searcher).search(space, ev, budget, random.Random(seed),
                                              members=members)
            assert {h["key"] for h in r.history} <= built  # every candidate was built
            assert space.key(r.best) in built
    fraction = 1.02 * flops[12] / full  # the median built architecture is in the window
    res = bench_search("mobilenet", fraction, searcher, queries=10, seeds=3, path=f)
    assert res["budget_flops_macs"] == round(fraction * full) and res["architectures"] == 25
    for run in res["runs"]:
        assert run["arch"] in built
        assert run["flops_macs"] == bench.entries[run["arch"]]["flops"]
        # the true rank is among the built entries, keys read with the meta's space
        want = 1 + sum(e["flops"] <= res["budget_flops_macs"] and e["mean"] > run["mean"]
                       for e in bench.entries.values())
        assert run["rank"] == want


def test_no_built_architecture_in_the_window_is_one_clear_error(tmp_path, capsys):
    f = make_built(tmp_path, keys=["1111111", "4444444"])
    # window [0.4, 0.5] of the full width: 1111111 is far below it, 4444444 above
    code, _, err = _run(capsys, ["bench", "search", "--space", "mobilenet", "--file", str(f),
                                 "--budget", "0.5", "--seeds", "1", "--queries", "5"])
    assert code == 2
    assert "none of the 2 architectures in" in err and "tiny.json" in err
    assert len(err.strip().splitlines()) == 1
    # greedy only has to fit under the budget: 1111111 does
    code, out, err = _run(capsys, ["bench", "search", "--space", "mobilenet", "--file", str(f),
                                   "--budget", "0.5", "--seeds", "1", "--queries", "5",
                                   "--searcher", "greedy", "--json"])
    assert code == 0, err
    assert json.loads(out)["runs"][0]["arch"] == "1111111"


def test_meta_space_must_match_the_space_asked_for(tmp_path, capsys):
    f = make_built(tmp_path, n=4)
    for cmd, extra in (("verify", []), ("query", ["--arch", "1111111"]),
                       ("search", ["--budget", "0.5"])):
        code, _, err = _run(capsys, ["bench", cmd, "--space", "resnet", "--file", str(f), *extra])
        assert code == 2, cmd
        assert "built on space 'cbm-mobilenet'" in err and "use --space mobilenet" in err
        assert len(err.strip().splitlines()) == 1
    g = make_built(tmp_path, n=4, family="cbm-resnet", name="r.json")
    assert verify("resnet", g)["n_exact"] == 4
    with pytest.raises(SlimnasError, match="not 'cbm-mobilenet'"):
        verify("mobilenet", g)


@pytest.mark.parametrize("meta, needle", [
    ('{"space": "cbm-mobilenet"}', "not a benchmark meta file"),
    ("[1]", "not a benchmark meta file"),
    ('{"format": "slimnas-bench-meta/1", "space": "cbm-mobilenet", "bins": 4, '
     '"options": {"depth": 3}}', "no option 'depth'"),
    ('{"format": "slimnas-bench-meta/1", "space": "cbm-mobilenet", "bins": "4"}',
     "'bins' must be an integer"),
    ('{"format": "slimnas-bench-meta/1", "space": "plaincnn", "bins": 4}',
     "read cbm-mobilenet and cbm-resnet"),
    ('{"format": "slimnas-bench-meta/1", "space": 7, "bins": 4}', "must be a space name"),
])
def test_bad_meta_files_are_refused_naming_them(tmp_path, meta, needle):
    f = make_built(tmp_path, n=3)
    meta_path(f).write_text(meta)
    with pytest.raises(SlimnasError, match=needle) as info:
        load_bench("mobilenet", f)
    assert "\n" not in str(info.value) and "tiny.json" in str(info.value)


# --- bad entries: refused at load time by every command ---------------------------------
BAD_ENTRIES = [
    ('{"mean": "high", "flops": 1, "params": 1}', "'mean' is not a number"),
    ('{"mean": null, "flops": 1, "params": 1}', "'mean' is not a number"),
    ('{"mean": true, "flops": 1, "params": 1}', "'mean' is not a number"),
    ('{"mean": NaN, "flops": 1, "params": 1}', "'mean' is not finite"),
    ('{"mean": 1.0, "flops": Infinity, "params": 1}', "'flops' is not finite"),
    ('{"flops": 1, "params": 1}', "no field 'mean'"),
    ('{"mean": 1.0, "params": 1}', "no field 'flops'"),
    ('{"mean": 1.0, "flops": "1e6", "params": 1}', "'flops' is not a number"),
    ('{"mean": 1.0, "flops": -5, "params": 1}', "'flops' is negative"),
    ('{"mean": 1.0, "flops": 1, "params": [1]}', "'params' is not a number"),
]
COMMANDS = {
    "verify": [],
    "query": ["--arch", "1111111"],
    "rank": ["--scores", "SCORES"],
    "search": ["--budget", "0.5", "--seeds", "1", "--queries", "5"],
}


@pytest.mark.parametrize("entry, needle", BAD_ENTRIES)
def test_bad_entries_are_refused_by_every_bench_command(tmp_path, capsys, entry, needle):
    good = '{"acc": [1.0], "mean": 50.0, "std": 0.0, "flops": 10, "params": 10}'
    f = tmp_path / "bad_bench.json"
    f.write_text(f'{{"1111111": {good}, "2222222": {entry}}}')
    scores = tmp_path / "s.json"
    scores.write_text('{"1111111": 1.0, "2222222": 2.0}')
    for cmd, extra in COMMANDS.items():
        extra = [str(scores) if a == "SCORES" else a for a in extra]
        code, out, err = _run(capsys, ["bench", cmd, "--space", "mobilenet", "--file", str(f),
                                       *extra])
        assert code == 2, (cmd, out)
        assert needle in err and "bad_bench.json" in err and "2222222" in err, (cmd, err)
        assert len(err.strip().splitlines()) == 1, err


def test_bad_entry_in_a_built_file_is_refused(tmp_path):
    f = make_built(tmp_path, n=3)
    data = json.loads(f.read_text())
    key = sorted(data)[1]
    data[key]["mean"] = None
    f.write_text(json.dumps(data))
    with pytest.raises(SlimnasError, match=f"entry {key}: 'mean' is not a number"):
        verify("mobilenet", f)


def test_cache_follows_the_meta_file(tmp_path):
    f = make_built(tmp_path, n=5)
    assert open_bench("mobilenet", f).built
    meta_path(f).unlink()
    assert not open_bench("mobilenet", f).built
    assert np.array_equal(open_bench("mobilenet", f).widths(["1234123"]),
                          [[1, 2, 3, 4, 1, 2, 3]])


def test_full_width_of_the_cbm_spaces_is_the_4444444_entry(bench_dir):
    # budget fractions are of the space's closed-form full width: the same number
    for space in ("mobilenet", "resnet"):
        bench = open_bench(space)
        assert not bench.built and bench.complete()
        assert bench.full_flops() == bench.entries["4444444"]["flops"]
