"""From a trained checkpoint to an exported directory, through the library and the CLI."""

import json

import pytest
import torch
from conftest import tiny_config

from slimnas.cli import main
from slimnas.runs import CHECKPOINT
from slimnas.width.checkpoint import export_width, load_supernet
from slimnas.width.export import load_exported
from slimnas.width.net import selections
from slimnas.width.train import train_supernet


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


def test_score_widths_resumes_from_partial_and_cli_writes_table(trained, tmp_path, capsys):
    from slimnas.width.checkpoint import score_widths

    loaded = load_supernet(trained)
    widths = [(1, 1, 1, 1, 1, 1, 1), (4, 4, 4, 4, 4, 4, 4), (2, 3, 1, 4, 2, 3, 4)]
    out = tmp_path / "s.json"
    # a previous run was killed after scoring one width (with a sentinel score we can see)
    (tmp_path / "s.json.partial").write_text(json.dumps({"1111111": -1.0}))
    scores = score_widths(loaded, widths, out, progress=False)
    assert list(scores) == ["1111111", "4444444", "2314234"]
    assert scores["1111111"] == -1.0  # kept, not recomputed
    assert scores["4444444"] == loaded.scorer.score(widths[1])
    assert not (tmp_path / "s.json.partial").exists()
    assert json.loads(out.read_text()) == scores

    keys = tmp_path / "keys.txt"
    keys.write_text("2314234\n1111111\n2314234\n")
    code = main(["score", "--checkpoint", str(trained), "--archs", str(keys),
                 "--out", str(tmp_path / "cli.json")])
    assert code == 0
    table = json.loads((tmp_path / "cli.json").read_text())
    assert list(table) == ["2314234", "1111111"]
    assert table["2314234"] == scores["2314234"]
    code = main(["score", "--checkpoint", str(trained), "--archs", str(keys),
                 "--out", str(tmp_path / "cli.json")])
    assert code == 2 and "exists" in capsys.readouterr().err
    keys.write_text("2314235\n")
    code = main(["score", "--checkpoint", str(trained), "--archs", str(keys),
                 "--out", str(tmp_path / "x.json")])
    assert code == 2 and "outside" in capsys.readouterr().err
    keys.write_text("2314234\n")
    for extra, msg in ((["--rule-option", "candidates=4"], "cannot change after training"),
                       (["--rule-option", "candidates"], "--rule-option 'candidates' is not"),
                       (["--recal-batches", "0"], "recal_batches must be >= 1")):
        code = main(["score", "--checkpoint", str(trained), "--archs", str(keys),
                     "--out", str(tmp_path / "y.json"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "y.json").exists()
    code = main(["score", "--checkpoint", str(trained), "--archs", str(keys),
                 "--out", str(tmp_path / "y.json"), "--recal-batches", "1"])
    assert code == 0 and list(json.loads((tmp_path / "y.json").read_text())) == ["2314234"]
