"""`slimnas bnas`: bad input is one line and exit 2; configs; a tiny search end to end."""

import json
from pathlib import Path

import pytest

from slimnas.bnas.cli import main
from slimnas.bnas.config import DEFAULTS, VARIANTS, load_bnas_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("bnas-*.yaml"))


def run(capsys, *argv):
    code = main(["bnas", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, needle", [
    (["search", "/nonexistent.yaml"], "no such config"),
    (["search", "bogus=1"], "unknown config key 'bogus'"),
    (["search", "variant=pc-darts"], "unknown variant 'pc-darts'"),
    (["search", "search.epochs=two"], "search.epochs"),
    (["search", "search.partial_channels=3"], "partial_channels 3 must divide"),
    (["search", "search.net=resnet"], "search.net must be one of"),
    (["search", "train.reduction_at=[1, 9]"], "train.reduction_at"),
    (["search", "search.arch_betas=[0.5]"], "arch_betas"),
    (["search", "variant=bnas-v2-pc", "search.channels=2"], "cannot build the bcnn search"),
    (["train", "--genotype", "/nonexistent.json"], "no such file"),
    (["search", "--resume", "out=/nonexistent/run"], "no checkpoint.pt"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_bad_genotype_file_and_taken_out_dir(capsys, tmp_path, paper_genotype_json):
    bad = tmp_path / "g.json"
    bad.write_text(json.dumps({**paper_genotype_json, "normal": [["conv_9x9", 0]] * 8}))
    code, _, err = run(capsys, "train", "--genotype", str(bad))
    assert code == 2 and "unknown op 'conv_9x9'" in err and len(err.splitlines()) == 1
    bad.write_text("{not json")
    code, _, err = run(capsys, "train", "--genotype", str(bad))
    assert code == 2 and "not valid JSON" in err
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "search", f"out={taken}")
    assert code == 2 and "already exists and is not empty" in err
    assert (taken / "keep.txt").read_text() == "mine" and len(list(taken.iterdir())) == 1


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bnas", "train"])  # --genotype is required
    assert e.value.code == 2
    assert "--genotype" in capsys.readouterr().err


def test_variants_fill_only_unset_keys():
    for name, preset in VARIANTS.items():
        cfg = load_bnas_config(None, [f"variant={name}"])
        assert {k: cfg["search"][k] for k in preset} == preset
        assert cfg["train"]["net"] == preset["net"]
    cfg = load_bnas_config(None, ["variant=bnas-d", "search.clr=true", "train.net=darts"])
    assert cfg["search"]["clr"] is True and cfg["search"]["net"] == "bcnn"
    assert cfg["train"]["net"] == "darts"
    assert DEFAULTS["search"]["clr"] is None  # the defaults are never mutated


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_bnas_configs_are_valid(path):
    cfg = load_bnas_config(path)
    assert cfg["variant"] in VARIANTS


def test_there_are_bnas_configs():
    assert len(CONFIGS) >= 2


def test_tiny_search_then_train_from_the_cli(capsys, tmp_path, tiny_overrides):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "search", f"out={out}", *tiny_overrides, "search.epochs=1",
                            "variant=bnas-v2-pc")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["variant"] == "bnas-v2-pc" and (out / "genotype.json").is_file()
    assert "genotype.json" in err
    code, stdout, err = run(capsys, "train", "--genotype", str(out / "genotype.json"),
                            f"out={out}", *tiny_overrides, "search.nodes=2",
                            "train.batch_size=512", "train.onnx=false")
    assert code == 0, err
    assert json.loads(stdout)["model"] == str(out / "train" / "model")
    assert (out / "train" / "model" / "model.pt").is_file()
    assert not (out / "train" / "model" / "model.onnx").exists()
