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
    assert all(0.8 * budget <= c["flops"] <= budget for c in search["candidates"])
    w, u = res["winner"], res["uniform"]
    assert 0.8 * budget <= w["flops_macs"] <= budget
    assert w["supernet_score"] == max(c["score"] for c in search["candidates"])
    assert u["flops_macs"] <= budget and len(set(u["widths"])) == 1
    assert 0 <= w["test_top1_retrained"] <= 100
    assert json.loads((out / "result.json").read_text()) == json.loads(json.dumps(res))
    net = load_exported(out / "winner")  # the retrained weights load back
    assert sum(p.numel() for p in net.parameters()) == w["params"]
    with pytest.raises(SlimnasError, match="finished run"):
        run(cfg, progress=False)


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
