"""The main job end to end on digits, with tiny settings."""

import json

import pytest
from conftest import tiny_config

from slimnas.errors import SlimnasError
from slimnas.pipeline import run
from slimnas.width.export import load_exported


@pytest.mark.slow
def test_run_writes_a_complete_report(tmp_path):
    cfg = tiny_config(tmp_path / "r", epochs=1)
    cfg["search"].update(queries=10, budget="0.5")
    cfg["retrain"].update(epochs=1)
    res = run(cfg, progress=False)
    out = tmp_path / "r"
    for name in ("result.json", "search.json", "search.png", "generations.png",
                 "winner/arch.json", "winner/model.pt", "uniform/model.pt",
                 "supernet/checkpoint.pt"):
        assert (out / name).is_file(), name
    search = json.loads((out / "search.json").read_text())
    budget = search["budget_flops_macs"]
    assert 0 < search["queries"] <= 10 and len(search["candidates"]) == search["queries"]
    assert all(0.8 * budget <= c["flops_macs"] <= budget for c in search["candidates"])
    assert search["winner"]["widths"] == res["winner"]["widths"]
    w, u = res["winner"], res["uniform"]
    assert 0.8 * budget <= w["flops_macs"] <= budget
    assert w["supernet_score"] == max(c["score"] for c in search["candidates"])
    assert u["flops_macs"] <= budget and len(set(u["widths"])) == 1
    assert 0 <= w["test_top1_retrained"] <= 100
    assert json.loads((out / "result.json").read_text()) == json.loads(json.dumps(res))
    net = load_exported(out / "winner")  # the retrained weights load back
    assert sum(p.numel() for p in net.parameters()) == w["params"]
    assert res["config"] == json.loads(json.dumps(cfg))  # the report names its settings
    stamp = (out / "result.json").stat().st_mtime_ns
    assert run(cfg, progress=False) == json.loads(json.dumps(res))  # finished: kept as is
    assert (out / "result.json").stat().st_mtime_ns == stamp


def test_bad_search_settings_fail_before_training(tmp_path):
    cfg = tiny_config(tmp_path / "r")
    cfg["search"]["options"] = {"nosuch": 1}
    with pytest.raises(SlimnasError, match="nosuch"):
        run(cfg, progress=False)
    assert not (tmp_path / "r").exists()
    cfg["search"]["options"] = {}
    cfg["search"]["budget"] = "1K"
    with pytest.raises(SlimnasError, match="smallest"):
        run(cfg, progress=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_run_with_cafenet_and_flops_sensitive_bins(tmp_path):
    cfg = tiny_config(tmp_path / "r", epochs=1)
    cfg.update(rule="cafenet", complementary=False, flops_bins=True, bins=8)
    cfg["rule_options"] = {"offset": 1, "candidates": 2}
    cfg["search"].update(queries=6, budget="0.5")
    cfg["retrain"].update(epochs=1)
    res = run(cfg, progress=False)
    arch = json.loads((tmp_path / "r" / "winner" / "arch.json").read_text())
    assert arch["rule"] == "cafenet" and arch["widths"] == res["winner"]["widths"]
    assert arch["group_bins"] != [8] * len(arch["group_bins"])  # per-group FLOPs-sensitive
    assert arch["minmin"]["offset"] == 1 and len(arch["bins_used"]) == len(arch["widths"])
    assert [len(ix) for ix in arch["channels"].values()] == arch["channel_counts"]


def _without_out(res: dict) -> dict:
    res = json.loads(json.dumps(res))
    del res["config"]["out"]
    return res


@pytest.mark.slow
def test_a_crash_in_any_later_stage_resumes_to_the_same_report(tmp_path, monkeypatch):
    import slimnas.pipeline as pipeline

    cfg = tiny_config(tmp_path / "straight", epochs=1)
    cfg["search"].update(queries=6, budget="0.5")
    cfg["retrain"].update(epochs=2)
    straight = run(cfg, progress=False, log=None)

    real_retrain, real_export = pipeline.retrain, pipeline.export_width
    # crash in the second network's retraining, then in the first network's export
    for stage, target in (("retrain", "uniform"), ("export", "winner")):
        cfg["out"] = str(tmp_path / f"crash-{stage}")
        calls = []

        def crashing(*args, real=real_retrain if stage == "retrain" else real_export,
                     calls=calls, nth=2 if target == "uniform" else 1, **kwargs):
            calls.append(1)
            if len(calls) == nth:
                raise RuntimeError("simulated crash")
            return real(*args, **kwargs)

        monkeypatch.setattr(pipeline, "retrain" if stage == "retrain" else "export_width",
                            crashing)
        with pytest.raises(RuntimeError, match="simulated crash"):
            run(cfg, progress=False, log=None)
        monkeypatch.setattr(pipeline, "retrain", real_retrain)
        monkeypatch.setattr(pipeline, "export_width", real_export)
        out = tmp_path / f"crash-{stage}"
        assert not (out / "result.json").exists() and not (out / target).exists()
        resumed = run(cfg, progress=False, log=None)  # the same command again
        assert _without_out(resumed) == _without_out(straight)
        assert not list(out.glob(".*.partial"))


@pytest.mark.slow
def test_rerun_with_other_settings_is_refused_naming_the_keys(tmp_path):
    cfg = tiny_config(tmp_path / "r", epochs=1)
    cfg["search"].update(queries=4)
    cfg["retrain"].update(epochs=1)
    run(cfg, progress=False, log=None)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*") if p.is_file()}
    other = json.loads(json.dumps(cfg))
    other.update(rule="ua", seed=5)
    with pytest.raises(SlimnasError, match="rule, seed|seed, rule"):
        run(other, progress=False, log=None)
    other = json.loads(json.dumps(cfg))
    other["retrain"]["epochs"] = 3
    with pytest.raises(SlimnasError, match="retrain.epochs"):
        run(other, progress=False, log=None)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "r").rglob("*") if p.is_file()}
    assert after == before  # nothing the user had was touched
    cosmetic = json.loads(json.dumps(cfg))
    cosmetic["train"]["progress"] = True
    run(cosmetic, progress=False, log=None)  # a setting that changes no number is fine


def test_divergence_stops_the_run_with_one_line_and_no_nan_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path / "r", epochs=2, lr=1e12)
    with pytest.raises(SlimnasError) as e:
        run(cfg, progress=False, log=None)
    msg = str(e.value)
    assert "diverged" in msg and "train.lr" in msg and "step" in msg and "\n" not in msg
    ckpt = tmp_path / "r" / "supernet" / "checkpoint.pt"
    if ckpt.exists():  # whatever was written is finite
        import torch

        from slimnas.io import load_checkpoint

        state = load_checkpoint(ckpt)
        assert all(torch.isfinite(v).all() for v in state["model"].values()
                   if v.is_floating_point())
    assert not (tmp_path / "r" / "search.json").exists()


@pytest.mark.slow
def test_sigkill_during_retraining_then_the_same_command_gives_the_same_report(tmp_path):
    import os
    import signal
    import subprocess

    from conftest import PYTHON, cli_env

    args = ["space={name: cbm-resnet, width_mult: 0.0625}", "train.tensorboard=false",
            "train.progress=false", "train.epochs=1", "score.recal_batches=2",
            "search.queries=6", "retrain.epochs=15"]
    out = tmp_path / "killed"
    cmd = [PYTHON, "-m", "slimnas.cli", "run", *args, f"out={out}"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=cli_env())
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "winner" in line and "retraining" in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert (out / ".winner.partial").is_dir() and not (out / "winner").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert again.returncode == 0, again.stderr
    assert "finished earlier, kept" in again.stderr  # the supernet and the search
    straight = tmp_path / "straight"
    done = subprocess.run([*cmd[:-1], f"out={straight}"], capture_output=True, text=True,
                          env=cli_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    a = json.loads((out / "result.json").read_text())
    b = json.loads((straight / "result.json").read_text())
    assert _without_out(a) == _without_out(b)


@pytest.mark.parametrize("key,value,needle", [
    ("train", {"records": 0}, "train.records"),
    ("retrain", {"batch_size": 0}, "retrain.batch_size"),
    ("search", {"window": [0.8]}, "search.window"),
    ("search", {"queries": 0}, "search.queries"),
    ("score", {"recal_batches": 0}, "score.recal_batches"),
])
def test_meaningless_values_fail_before_any_work(tmp_path, key, value, needle):
    cfg = tiny_config(tmp_path / "r")
    cfg[key].update(value)  # a dict changed after loading is checked again by run()
    with pytest.raises(SlimnasError, match=needle):
        run(cfg, progress=False, log=None)
    assert not (tmp_path / "r").exists()
