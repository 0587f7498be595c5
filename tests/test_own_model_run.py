"""A user's own model named in a config (`model=package.module:factory`): the main job
end to end on digits with the default rule, and the checks around naming the model."""

import json
from pathlib import Path

import pytest
import torch

from slimnas.config import load_config
from slimnas.errors import SlimnasError
from slimnas.width.own.models import load_model

ROOT = Path(__file__).resolve().parents[1]
MODEL = "examples.tiny_cnn:TinyCNN"
FAST = ["train.epochs=2", "train.progress=false", "train.tensorboard=false",
        "search.queries=12", "retrain.epochs=1", "threads=1"]


def test_the_main_job_runs_on_a_users_model(tmp_path, monkeypatch):
    from examples.tiny_cnn import TinyCNN
    from slimnas.pipeline import run
    from slimnas.width.checkpoint import load_supernet
    from slimnas.width.export import load_exported

    monkeypatch.chdir(ROOT)  # the user's package, found beside where slimnas runs
    cfg = load_config(None, [f"model={MODEL}", f"out={tmp_path / 'run'}", *FAST])
    assert cfg["rule"] == "bcnetv2"  # the default, with its enlarged supernet
    result = run(cfg, progress=False, log=None)
    winner = tmp_path / "run" / "winner"
    arch = json.loads((winner / "arch.json").read_text())
    assert arch["space"] == MODEL and "layers" in arch
    assert arch["flops_macs"] <= result["budget_flops_macs"]
    net = load_exported(winner, model=TinyCNN(num_classes=10, in_channels=1))
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    ckpt = tmp_path / "run" / "supernet" / "checkpoint.pt"
    with pytest.raises(SlimnasError, match=f"supernet of the model '{MODEL}': pass model="):
        load_supernet(ckpt)
    with pytest.raises(SlimnasError, match="not 'zoo:resnet18'"):
        load_supernet(ckpt, model="zoo:resnet18")
    assert load_supernet(ckpt, model=MODEL).ctx.space.spec.family == MODEL


def test_init_weights_are_inherited_by_the_supernet(tmp_path, monkeypatch):
    from examples.tiny_cnn import TinyCNN
    from slimnas.width.context import make_space
    from slimnas.width.net import build_supernet

    monkeypatch.chdir(ROOT)
    trained = TinyCNN(num_classes=10, in_channels=1).eval()
    torch.save(trained.state_dict(), tmp_path / "mine.pt")
    cfg = load_config(None, [f"model={MODEL}", "rule=ua",
                             f"model_options.init_weights={tmp_path / 'mine.pt'}"])
    data = type("D", (), {"x": torch.zeros(4, 1, 8, 8), "num_classes": 10})()
    space, _ = make_space(cfg, data)
    supernet = build_supernet(space).eval()
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(supernet(x), trained(x))


@pytest.mark.parametrize(("name", "message"), [
    ("nodots", "expected zoo:NAME or package.module:factory"),
    ("no_such_pkg_xyz:f", "cannot import no_such_pkg_xyz: ModuleNotFoundError"),
    ("examples.tiny_cnn:Nope", "has no callable 'Nope'"),
    ("examples.tiny_cnn:F", "has no callable 'F'"),
])
def test_a_bad_model_name_is_one_clear_error(monkeypatch, name, message):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SlimnasError, match=message):
        load_model(name, 10, 1)


def test_a_factory_that_fails_is_one_clear_error(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SlimnasError, match="the factory failed .*TypeError"):
        load_model(MODEL, 10, 1, kwargs={"bogus": 1})


def test_weights_that_do_not_fit_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    torch.save({"stem.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(SlimnasError, match="does not fit the model"):
        load_model(MODEL, 10, 1, init_weights=str(tmp_path / "bad.pt"))
    with pytest.raises(SlimnasError, match="no such file"):
        load_model(MODEL, 10, 1, init_weights=str(tmp_path / "none.pt"))


def test_the_cli_names_a_bad_model_in_one_line(tmp_path, monkeypatch, capsys):
    from slimnas.cli import main

    monkeypatch.chdir(ROOT)
    code = main(["train-supernet", "model=no_such_pkg_xyz:f", f"out={tmp_path / 's'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot import no_such_pkg_xyz" in err[0]
