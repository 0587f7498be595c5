"""From a trained checkpoint to an exported directory, through the library and the CLI."""

import json

import pytest
import torch
from conftest import tiny_config

from slimnas.cli import main
from slimnas.width.checkpoint import export_width, load_supernet
from slimnas.width.export import load_exported
from slimnas.width.net import selections
from slimnas.width.train import CHECKPOINT, train_supernet


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("sn")
    train_supernet(tiny_config(out, epochs=1))
    return out / CHECKPOINT


def test_export_best_path_records_choice_and_equals_supernet(trained, tmp_path):
    loaded = load_supernet(trained)
    space = loaded.ctx.space
    widths = (2, 3, 1, 4, 2, 3, 4)
    out = export_width(loaded, widths, tmp_path / "e", onnx=False)
    arch = json.loads((out / "arch.json").read_text())
    scores = arch["path_scores"]
    assert set(scores) == {"left", "right"}
    assert arch["path"] == max(scores, key=lambda s: (scores[s], s == "left"))
    assert arch["path_choice"] == "best held-out score"
    assert arch["score"] == scores[arch["path"]]
    net = load_exported(out)
    path = [p for p in loaded.ctx.rule.paths(space, widths) if p.side == arch["path"]][0]
    x = loaded.ctx.held_x[:32]
    loaded.supernet.eval()
    with torch.no_grad():
        ref = loaded.supernet(x, selections(space, path))
        got = net(x)
    assert (ref - got).abs().max() <= 1e-5
    # the exported net carries its path's recalibrated BN: its accuracy is the path's score
    acc = 100.0 * float((net(loaded.ctx.held_x).argmax(1) == loaded.ctx.held_y).float().mean())
    assert abs(acc - arch["score"]) < 1e-6


def test_cli_export_picks_a_side_and_refuses_existing_dirs(trained, tmp_path, capsys):
    code = main(["export", str(trained), "--widths", "1111111", "--path", "right",
                 "--out", str(tmp_path / "r"), "--no-onnx"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["path"] == "right" and res["key"] == "1111111"
    assert json.loads((tmp_path / "r" / "arch.json").read_text())["path_choice"] == \
        "chosen by the user"
    code = main(["export", str(trained), "--widths", "1111111", "--out", str(tmp_path / "r")])
    assert code == 2 and "not empty" in capsys.readouterr().err
    code = main(["export", str(trained), "--widths", "5111111", "--out", str(tmp_path / "z")])
    assert code == 2 and "outside" in capsys.readouterr().err
    code = main(["export", str(trained), "--widths", "1111111", "--path", "middle",
                 "--out", str(tmp_path / "z")])
    assert code == 2 and "middle" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()
