"""`slimnas bench build`: FLOPs-stratified picks, Channel-Bench-Macro format, resume."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import PYTHON, cli_env

import slimnas.retrain as retrain_module
from slimnas.bench import verify
from slimnas.bench.build import build_benchmark, stratified_archs
from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.io import read_json
from slimnas.search.costs import flops_batch
from slimnas.width.spaces import get_space

pytestmark = pytest.mark.usefixtures("single_thread")
TINY = dict(space="cbm-mobilenet", options={"width_mult": 0.0625}, data="digits",
            epochs=1, train_size=120, test_size=60, progress=False)


def test_stratified_archs_cover_the_flops_range() -> None:
    space = get_space("cbm-resnet", bins=4)
    picks = stratified_archs(space, 10, seed=3)
    assert len(set(picks)) == 10 and picks == stratified_archs(space, 10, seed=3)
    assert picks != stratified_archs(space, 10, seed=4)
    grid = np.array(list(space.all_widths()))
    f = np.sort(flops_batch(space, grid))
    mine = flops_batch(space, np.array(picks))
    assert list(mine) == sorted(mine)  # one per stratum, in FLOPs order
    for i, v in enumerate(mine):  # pick i lies inside stratum i of the sorted FLOPs
        stratum = np.array_split(f, 10)[i]
        assert stratum[0] <= v <= stratum[-1]
    with pytest.raises(SlimnasError, match="exceeds"):
        stratified_archs(get_space("plaincnn", bins=2, depth=2), 5, 0)


def test_build_writes_the_benchmark_format(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    res = build_benchmark(archs=3, seeds=2, out=out, **TINY)
    assert res["runs_trained"] == 6 and not (tmp_path / "bench.json.partial").exists()
    bench = read_json(out)
    space = get_space("cbm-mobilenet", bins=4, width_mult=0.0625, input_size=8, in_channels=1)
    model = cost_model(space.spec)
    assert len(bench) == 3
    for key, e in bench.items():
        assert len(key) == 7 and set(key) <= set("1234")
        assert len(e["acc"]) == 2 and all(0 <= a <= 100 for a in e["acc"])
        assert e["mean"] == pytest.approx(sum(e["acc"]) / 2)
        assert e["std"] == pytest.approx(abs(e["acc"][0] - e["acc"][1]) / 2 ** 0.5)
        ch = space.channels_of(space.parse(key))
        assert e["flops"] == model.macs(ch) and e["params"] == model.params(ch)
    # the space beside the file: every bench command reads the file with it
    meta = read_json(tmp_path / "bench.json.meta.json")
    assert meta["format"] == "slimnas-bench-meta/1" and meta["space"] == "cbm-mobilenet"
    assert meta["options"] == {"in_channels": 1, "input_size": 8, "num_classes": 10,
                               "width_mult": 0.0625}
    assert (meta["bins"], meta["min_bins"]) == (4, 1)
    assert meta["recipe"]["epochs"] == 1 and meta["recipe"]["seeds"] == 2
    report = verify("mobilenet", out)
    assert (report["n_total"], report["n_exact"], report["built"]) == (3, 3, True)
    before = out.read_text()  # a finished build rerun unchanged: nothing to grow
    assert build_benchmark(archs=3, seeds=2, out=out, **TINY)["runs_trained"] == 0
    assert out.read_text() == before
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(SlimnasError, match="no slimnas bench build to grow"):
        build_benchmark(archs=3, seeds=2, out=other, **TINY)
    assert other.read_text() == "{}"


def test_build_resumes_after_a_crash_without_retraining(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "bench.json"
    real = retrain_module.retrain
    calls = []

    def crashing(*a, **k):
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill in the middle of the 4th run
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(retrain_module, "retrain", crashing)
    with pytest.raises(KeyboardInterrupt):
        build_benchmark(archs=3, seeds=2, out=out, **TINY)
    partial = read_json(tmp_path / "bench.json.partial")
    assert sum(len(v) for v in partial["runs"].values()) == 3
    first = read_json(out)  # the architectures finished so far, in the final format
    assert len(first) == 1
    meta = read_json(tmp_path / "bench.json.meta.json")  # written before any training
    assert verify("mobilenet", out)["n_exact"] == 1  # a partial build is usable already
    done = dict(partial["runs"])

    calls.clear()
    monkeypatch.setattr(retrain_module, "retrain", lambda *a, **k: (calls.append(1),
                                                                    real(*a, **k))[1])
    with pytest.raises(SlimnasError, match="epochs"):  # a different recipe is refused
        build_benchmark(archs=3, seeds=2, out=out, **{**TINY, "epochs": 2})
    assert read_json(tmp_path / "bench.json.meta.json") == meta  # a refused resume: kept
    res = build_benchmark(archs=3, seeds=2, out=out, **TINY)
    assert len(calls) == 3 and res["runs_trained"] == 3  # only the missing runs
    assert read_json(tmp_path / "bench.json.meta.json") == meta  # consistent on resume
    bench = read_json(out)
    assert len(bench) == 3
    for key, seeds in done.items():  # finished runs kept exactly
        for s, acc in seeds.items():
            assert bench[key]["acc"][int(s)] == acc


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    cmd = [PYTHON, "-m", "slimnas", "bench", "build", "--space", "cbm-mobilenet", "--archs",
           "2", "--data", "digits", "--out", str(tmp_path / "b.json")]
    for extra, msg in ((["--option", "width_mult"], "key=value"),
                       (["--option", "depth=3"], "no option"),
                       (["--seeds", "0"], "--seeds")):
        r = subprocess.run(cmd + extra, capture_output=True, text=True, env=cli_env())
        assert r.returncode == 2, r.stderr
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_parallel_jobs_give_the_same_benchmark(tmp_path: Path) -> None:
    one = build_benchmark(archs=2, seeds=2, out=tmp_path / "one.json", **TINY)
    two = build_benchmark(archs=2, seeds=2, out=tmp_path / "two.json", jobs=2, **TINY)
    assert one["runs_trained"] == two["runs_trained"] == 4
    # each run is seeded by (seed, key, run) and trained with one thread in both builds
    assert read_json(tmp_path / "one.json") == read_json(tmp_path / "two.json")
    assert not (tmp_path / "two.json.partial").exists()
    with pytest.raises(SlimnasError, match="--jobs"):
        build_benchmark(archs=2, seeds=2, out=tmp_path / "three.json", jobs=0, **TINY)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_diverging_run_stops_the_build_keeping_finished_runs(tmp_path: Path, jobs) -> None:
    out = tmp_path / "nan.json"
    recipe = {**TINY, "lr": 1e12, "epochs": 3}
    with pytest.raises(SlimnasError) as e:
        build_benchmark(archs=2, seeds=1, out=out, jobs=jobs, **recipe)
    msg = str(e.value)
    assert "diverged" in msg and "--lr" in msg and "\n" not in msg
    state = read_json(tmp_path / "nan.json.partial")  # the build can be resumed, no NaN in it
    assert all(v == v for runs in state["runs"].values() for v in runs.values())
    if out.exists():
        assert all(e["mean"] == e["mean"] for e in read_json(out).values())


def test_held_out_build_trains_on_a_supernet_configs_training_part(tmp_path: Path) -> None:
    """With --held-out, a run of `bench build` is exactly `train_width` on the training
    part a supernet config (data.subset, data.held_out, data.held_out_seed) trains on."""
    import torch

    from slimnas.bench.build import train_width
    from slimnas.config import load_config
    from slimnas.data import load_test, to_float
    from slimnas.width.context import build_context

    out = tmp_path / "bench.json"
    opts = {**TINY, "train_size": 200, "test_size": None}
    build_benchmark(archs=1, seeds=1, out=out, held_out=50, seed=0, **opts)
    meta = read_json(tmp_path / "bench.json.meta.json")
    assert meta["recipe"]["held_out"] == 50 and meta["recipe"]["train_size"] == 150
    (key, entry), = read_json(out).items()
    cfg = load_config(None, ["seed=3", "space={name: cbm-mobilenet, width_mult: 0.0625}",
                             "data.subset=200", "data.held_out=50", "data.held_out_seed=0"])
    ctx = build_context(cfg, torch.device("cpu"))  # the run seed (3) does not move the split
    assert len(ctx.train_x) == 150 and len(ctx.held_x) == 50
    cfg["seed"] = 0
    test = load_test(cfg)
    space = get_space("cbm-mobilenet", bins=4, width_mult=0.0625, input_size=8,
                      in_channels=1, num_classes=10)
    top1 = train_width(space, key, 0, 0, (ctx.train_x, ctx.train_y,
                                          to_float(test.x, ctx.mean, ctx.std), test.y),
                       1, 64, 0.05, 5e-4, 2, False, torch.device("cpu"))
    assert top1 == entry["acc"][0]


def test_a_build_grows_by_keys_and_seeds_without_retraining(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    first = build_benchmark(archs=2, seeds=1, out=out, **TINY)
    assert first["runs_trained"] == 2
    old = read_json(out)
    more_seeds = build_benchmark(archs=2, seeds=2, out=out, **TINY)
    assert more_seeds["runs_trained"] == 2  # seed 1 of each key only
    grown = read_json(out)
    assert set(grown) == set(old)
    for k in old:
        assert grown[k]["acc"][0] == old[k]["acc"][0] and len(grown[k]["acc"]) == 2
    space = get_space("cbm-mobilenet", bins=4, width_mult=0.0625, input_size=8, in_channels=1)
    new_key = next(space.key(w) for w in space.all_widths() if space.key(w) not in old)
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{new_key}\n{next(iter(old))}\n")
    by_keys = build_benchmark(archs=2, seeds=2, out=out, keys_file=keys, **TINY)
    assert by_keys["runs_trained"] == 2 and by_keys["archs"] == 3
    final = read_json(out)
    assert set(final) == set(old) | {new_key}
    assert all(final[k] == grown[k] for k in old)
    assert read_json(tmp_path / "bench.json.meta.json")["recipe"]["archs"] == 3
    with pytest.raises(SlimnasError, match="made with epochs=1, not 2"):
        build_benchmark(archs=2, seeds=2, out=out, **{**TINY, "epochs": 2})
    only_keys = tmp_path / "only.json"
    res = build_benchmark(archs=None, seeds=1, out=only_keys, keys_file=keys, **TINY)
    assert res["archs"] == 2 and set(read_json(only_keys)) == {new_key, next(iter(old))}
    with pytest.raises(SlimnasError, match="--archs N"):
        build_benchmark(archs=None, seeds=1, out=tmp_path / "x.json", **TINY)


def test_known_runs_are_taken_instead_of_trained(tmp_path: Path) -> None:
    ref = build_benchmark(archs=2, seeds=2, out=tmp_path / "ref.json", **TINY)
    entries = read_json(tmp_path / "ref.json")
    key = next(iter(entries))
    known = {key: {0: entries[key]["acc"][0]}, "1111111": {5: 50.0}}  # the second: unused
    res = build_benchmark(archs=2, seeds=2, out=tmp_path / "b.json", known_runs=known, **TINY)
    assert res["runs_trained"] == ref["runs_trained"] - 1
    built = read_json(tmp_path / "b.json")
    assert built[key]["machines"][0] is None  # trained elsewhere: its machine is not known
    assert built[key]["machines"][1] == entries[key]["machines"][1]
    assert built == {k: {**e, "machines": built[k]["machines"]} for k, e in entries.items()}


def test_each_run_records_its_machine_across_resumes(tmp_path: Path) -> None:
    import json

    import torch

    from slimnas.bench.build import _entry, run_machine
    from slimnas.latency import cpu_identity

    here = run_machine(torch.device("cpu"), 1)
    assert cpu_identity() in here and "torch " + torch.__version__ in here
    assert "1 thread(s)" in here and here != run_machine(torch.device("cpu"), 2)
    out = tmp_path / "bench.json"
    build_benchmark(archs=2, seeds=1, out=out, **TINY)
    first = read_json(out)
    assert all(e["machines"] == [here] for e in first.values())
    build_benchmark(archs=2, seeds=2, out=out, **TINY)  # grown: the first runs keep theirs
    assert all(e["machines"] == [here, here] for e in read_json(out).values())
    # a build begun before machines were recorded: its runs resume as not recorded
    old = tmp_path / "old.json"
    build_benchmark(archs=2, seeds=1, out=old, **TINY)
    partial = tmp_path / "old.json.partial"
    keys = list(read_json(old))
    state = {"recipe": {**read_json(tmp_path / "old.json.meta.json")["recipe"], "archs": 2},
             "keys": keys, "runs": {k: {"0": e["acc"][0]} for k, e in read_json(old).items()}}
    partial.write_text(json.dumps(state))
    old.unlink()
    res = build_benchmark(archs=2, seeds=2, out=old, **TINY)
    assert res["runs_trained"] == 2
    assert all(e["machines"] == [None, here] for e in read_json(old).values())
    assert "machines" not in _entry([1.0], 5, 6, [None])  # none known: the plain format


def test_channels_last_is_part_of_the_recipe(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    build_benchmark(archs=1, seeds=1, out=out, channels_last=True, **TINY)
    assert read_json(tmp_path / "bench.json.meta.json")["recipe"]["channels_last"] is True
    before = out.read_text()
    with pytest.raises(SlimnasError, match="made with channels_last=True, not None"):
        build_benchmark(archs=1, seeds=2, out=out, **TINY)
    assert out.read_text() == before
    plain = tmp_path / "plain.json"  # and the other way round; the default records nothing
    build_benchmark(archs=1, seeds=1, out=plain, **TINY)
    assert "channels_last" not in read_json(tmp_path / "plain.json.meta.json")["recipe"]
    with pytest.raises(SlimnasError, match="made with channels_last=None, not True"):
        build_benchmark(archs=1, seeds=2, out=plain, channels_last=True, **TINY)
