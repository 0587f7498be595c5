"""The CLI: JSON on stdout, one clear line and exit 2 on bad input, nothing overwritten."""

import json
import subprocess

import pytest
from conftest import PYTHON, cli_env

from slimnas.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fairness_json_bcnetv2_complementary_exact(capsys):
    code, out, err = run(capsys, "fairness", "--rule", "bcnetv2", "--bins", "4", "--min-bins",
                         "1", "--steps", "200", "--groups", "3", "--complementary", "--json")
    assert code == 0
    res = json.loads(out)  # stdout carries only the JSON
    assert res["rule"] == "bcnetv2" and res["bins_total"] == 5
    assert res["max_min_ratio"] == 1.0
    assert all(len(set(g["counts"])) == 1 for g in res["groups"])


def test_fairness_ua_skew(capsys):
    code, out, _ = run(capsys, "fairness", "--rule", "ua", "--bins", "4", "--steps", "4000",
                       "--json")
    res = json.loads(out)
    assert code == 0 and res["bins_total"] == 4
    assert 3.5 < res["max_min_ratio"] < 4.6  # K:1 in expectation


@pytest.mark.parametrize("argv, needle", [
    (["fairness", "--rule", "bcnetv2", "--bins", "4", "--steps", "3", "--complementary"],
     "even"),
    (["fairness", "--rule", "cafenet", "--bins", "4", "--steps", "2"], "training run"),
    (["fairness", "--rule", "ua", "--bins", "4", "--min-bins", "9", "--steps", "2"], "min"),
    (["bench", "query", "--space", "mobilenet", "--arch", "4445342"], "4445342"),
    (["bench", "verify", "--space", "mobilenet", "--file", "/nonexistent.json"], "nonexistent"),
    (["train-supernet", "/nonexistent.yaml"], "no such config"),
    (["train-supernet", "train.epochs=two"], "train.epochs"),
    (["train-supernet", "space.name=nope"], "unknown space"),
    (["train-supernet", "bogus=1"], "unknown config key"),
    (["export", "/nonexistent.pt", "--widths", "1111", "--out", "/tmp/x"], "no checkpoint"),
])
def test_bad_input_exits_2_with_one_line(capsys, bench_dir, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_malformed_yaml_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochs: [1,\n")
    code, _, err = run(capsys, "train-supernet", str(bad))
    assert code == 2 and "malformed YAML" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, needle", [
    (["bench", "verify", "--space", "vgg"], "'mobilenet', 'resnet'"),
    (["fairness", "--rule", "nope", "--bins", "4", "--steps", "2"], "'bcnetv2'"),
    (["bench", "search", "--space", "resnet", "--budget", "0.5", "--searcher", "nope"],
     "'evolution'"),
    (["bench", "build", "--space", "nope", "--archs", "1", "--data", "digits", "--out", "x"],
     "'cbm-mobilenet'"),
    (["bench", "build", "--space", "plaincnn", "--archs", "1", "--data", "svhn", "--out", "x"],
     "'digits'"),
])
def test_argparse_errors_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid choice" in err and needle in err


def test_choices_come_from_the_registries(capsys):
    from slimnas.bench import BENCH_SPACES
    from slimnas.data.loader import DATASETS
    from slimnas.search import searcher_names
    from slimnas.width.sharing import rule_names
    from slimnas.width.spaces import family_names

    def choices(*argv):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        return capsys.readouterr().out

    assert "{" + ",".join(BENCH_SPACES.names()) + "}" in choices("bench", "verify")
    assert "{" + ",".join(searcher_names()) + "}" in choices("bench", "search")
    assert "{" + ",".join(rule_names()) + "}" in choices("fairness")
    build = " ".join(choices("bench", "build").split())
    assert "{" + ",".join(family_names()) + "}" in build
    assert ", ".join(DATASETS.names()) in build


def test_dataset_choices_forgive_spelling_and_load_torch_only_when_used():
    from slimnas.cli_common import LazyChoices
    from slimnas.data.loader import dataset_key

    loads = []
    names = LazyChoices(lambda: loads.append(1) or ["fashion-mnist", "mnist"], dataset_key)
    assert not loads  # building the parser reads no names
    assert "Fashion_MNIST" in names and "FashionMNIST" in names and "svhn" not in names
    assert list(names) == ["fashion-mnist", "mnist"]
    code = subprocess.run([PYTHON, "-c", "import sys; from slimnas.cli import build_parser; "
                           "build_parser(); sys.exit('torch' in sys.modules)"],
                          env=cli_env()).returncode
    assert code == 0  # the parser is built without importing torch


def test_bench_verify_and_query(capsys, bench_dir):
    for space in ("mobilenet", "resnet"):
        code, out, _ = run(capsys, "bench", "verify", "--space", space)
        assert code == 0 and out.startswith("16384/16384 exact")
    code, out, _ = run(capsys, "bench", "query", "--space", "mobilenet", "--arch", "4444342")
    res = json.loads(out)
    assert code == 0 and res["flops_macs"] == res["flops_macs_ours"]
    assert abs(res["mean"] - 91.887) < 1e-3


def test_console_script_entry_point_runs():
    done = subprocess.run([PYTHON, "-m", "slimnas.cli", "spaces"], env=cli_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0
    assert "cbm-mobilenet" in json.loads(done.stdout)


def test_bad_checkpoints_and_unwritable_outputs_get_one_line(capsys, tmp_path, monkeypatch):
    import os

    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 30)
    (tmp_path / "file").write_text("user data")
    cases = [
        (["export", str(tmp_path / "evil.pt"), "--widths", "4444444", "--out",
          str(tmp_path / "e")], "not a slimnas checkpoint"),
        (["score", "--checkpoint", str(tmp_path / "cut.pt"), "--all", "--out",
          str(tmp_path / "s.json")], "truncated or corrupt"),
        (["run", f"out={tmp_path / 'file' / 'run'}"], "cannot write to"),
        (["train-supernet", f"out={tmp_path / 'file' / 'sn'}"], "cannot write to"),
        (["bnas", "search", f"out={tmp_path / 'file' / 'b'}"], "cannot write to"),
        (["score", "--checkpoint", str(tmp_path / "evil.pt"), "--all", "--out",
          str(tmp_path / "file" / "s.json")], "cannot write to"),
    ]
    for argv, needle in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert needle in err and err.count("\n") == 1, (argv, err)
        assert "weights_only=False" not in err and "Traceback" not in err
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "file").read_text() == "user data"


def test_interrupt_says_how_to_resume(capsys, monkeypatch):
    import slimnas.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(slimnas.pipeline, "run", interrupted)
    code, _, err = run(capsys, "run", "train.epochs=1")
    assert code == 130 and "rerun the same command to resume" in err


def test_train_supernet_writes_runs_supernet_by_default(monkeypatch, tmp_path):
    import slimnas.width.train

    seen = {}
    monkeypatch.setattr(slimnas.width.train, "train_supernet",
                        lambda cfg, resume=False: seen.setdefault("out", cfg["out"]) and
                        {"checkpoint": "x", "steps": 0, "history": []})
    assert main(["train-supernet", "train.epochs=1"]) == 0
    assert seen["out"] == "runs/supernet"
