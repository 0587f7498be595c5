"""Exported paths: plain net == supernet path, ONNX == supernet path, arch.json, refusals."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SMALL_SPACES

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.width.export import FORMAT, export_path, load_exported, read_arch
from slimnas.width.net import WidthNet, build_supernet, selections
from slimnas.width.sharing import get_rule
from slimnas.width.space import WidthSpace

SRC = Path(__file__).resolve().parents[2] / "src"
RULES = ("ua", "bcnet", "bcnetv2")
SPACES = {**SMALL_SPACES, "plaincnn": dict(width=8, input_size=8, depth=3)}  # tests below count its channels
# the ONNX exporter takes seconds per model: one rule per space, one path per rule
ONNX_RULE = {
    "cbm-mobilenet": "bcnet",
    "cbm-resnet": "bcnetv2",
    "mobilenetv2": "ua",
    "resnet": "bcnetv2",
    "plaincnn": "bcnet",
}
ONNX_SIDE = {"ua": "left", "bcnet": "right", "bcnetv2": "right"}


pytestmark = pytest.mark.usefixtures("single_thread")


def fresh_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def make_space(rule_name: str, family: str, bins: int = 4, min_bins: int = 1) -> WidthSpace:
    return get_rule(rule_name).make_space(family, bins, min_bins, **SPACES[family])


def trained_supernet(space: WidthSpace, rule_name: str, seed: int) -> WidthNet:
    """A supernet with random BN affine params and running stats from a few train passes."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    net = build_supernet(space)
    rule = get_rule(rule_name)
    spec = space.spec
    with torch.no_grad():
        for bn in net.bn_modules():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
        net.train()
        for _ in range(2):
            for path in rule.paths(space, space.sample(rng)):
                x = torch.randn(4, spec.in_channels, spec.input_size, spec.input_size)
                net(x, selections(space, path))
    return net.eval()


def sample_input(space: WidthSpace, batch: int, seed: int) -> torch.Tensor:
    spec = space.spec
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, spec.in_channels, spec.input_size, spec.input_size, generator=gen)


@pytest.mark.parametrize("family", sorted(SPACES))
@pytest.mark.parametrize("rule_name", RULES)
def test_exported_path_equals_supernet_path(rule_name: str, family: str, tmp_path: Path) -> None:
    seed = fresh_seed()
    msg = f"seed={seed} rule={rule_name} space={family}"
    space = make_space(rule_name, family)
    supernet = trained_supernet(space, rule_name, seed)
    widths = space.sample(random.Random(seed))
    x = sample_input(space, 2, seed)
    paths = get_rule(rule_name).paths(space, widths)
    assert len(paths) == (1 if rule_name == "ua" else 2)
    for path in paths:
        with_onnx = ONNX_RULE[family] == rule_name and ONNX_SIDE[rule_name] == path.side
        out_dir = export_path(supernet, space, rule_name, path, tmp_path / path.side,
                              extra={"seed": seed}, onnx=with_onnx)
        assert (out_dir / "model.onnx").exists() == with_onnx, msg
        loaded = load_exported(out_dir)
        assert not loaded.training and not loaded.dynamic, msg
        with torch.no_grad():
            want = supernet(x, selections(space, path))
            got = loaded(x)
        err = (want - got).abs().max().item()
        assert err <= 1e-5, f"{msg} side={path.side} widths={widths}: max err {err}"
        arch = read_arch(out_dir)
        assert arch["rule"] == rule_name and arch["path"] == path.side, msg
        assert arch["widths"] == list(widths) and arch["seed"] == seed, msg
        assert arch["params"] == sum(p.numel() for p in loaded.parameters()), msg
        if with_onnx:
            check_onnx(out_dir / "model.onnx", want, x, msg)


def check_onnx(file: Path, want: torch.Tensor, x: torch.Tensor, msg: str) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"], msg
    assert [o.name for o in session.get_outputs()] == ["logits"], msg
    assert not isinstance(session.get_inputs()[0].shape[0], int), f"{msg}: batch axis is fixed"
    assert x.shape[0] == 2
    (got,) = session.run(["logits"], {"input": x.numpy()})
    assert got.shape == tuple(want.shape), msg
    err = float(np.abs(got - want.numpy()).max())
    assert err <= 1e-4, f"{msg}: ONNX max err {err}"


def test_onnx_falls_back_to_torchscript_exporter(tmp_path: Path, monkeypatch) -> None:
    seed = fresh_seed()
    space = make_space("bcnet", "plaincnn")
    supernet = trained_supernet(space, "bcnet", seed)
    path = get_rule("bcnet").paths(space, space.sample(random.Random(seed)))[1]
    real_export = torch.onnx.export
    calls = []

    def flaky_export(*args, dynamo: bool = True, **kwargs):
        calls.append(dynamo)
        if dynamo:
            raise RuntimeError("dynamo exporter unavailable")
        return real_export(*args, dynamo=dynamo, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", flaky_export)
    out_dir = export_path(supernet, space, "bcnet", path, tmp_path / "e")
    assert calls == [True, False]
    assert sorted(os.listdir(out_dir)) == ["arch.json", "model.onnx", "model.pt"]
    x = sample_input(space, 2, seed)
    with torch.no_grad():
        want = supernet(x, selections(space, path))
    check_onnx(out_dir / "model.onnx", want, x, f"seed={seed}")


@pytest.mark.parametrize("rule_name", ["bcnet", "bcnetv2"])
def test_arch_json_fields_and_channel_indices(rule_name: str, tmp_path: Path) -> None:
    seed = fresh_seed()
    space = make_space(rule_name, "plaincnn", bins=4, min_bins=2)
    supernet = trained_supernet(space, rule_name, seed)
    widths = (2, 4, 3)
    left, right = get_rule(rule_name).paths(space, widths)
    extra = {"score": 0.75, "chosen": "right: higher held-out accuracy"}
    out_dir = export_path(supernet, space, rule_name, right, tmp_path / "right", extra=extra,
                          onnx=False)
    left_dir = export_path(supernet, space, rule_name, left, tmp_path / "left", onnx=False)
    arch = json.loads((out_dir / "arch.json").read_text())
    assert arch == read_arch(out_dir)
    spec = space.spec
    counts = [len(range(*space.bin_range(g, 0, c))) for g, c in enumerate(widths)]
    assert arch["format"] == FORMAT
    assert arch["space"] == "plaincnn" and arch["options"] == spec.options
    assert (arch["bins"], arch["min_bins"]) == (4, 2)
    assert arch["enlarge"] == (rule_name == "bcnetv2")
    assert arch["rule"] == rule_name and arch["path"] == "right"
    assert arch["widths"] == [2, 4, 3] and arch["key"] == "243"
    assert arch["channel_counts"] == counts
    assert arch["flops_macs"] == cost_model(spec).macs(counts)
    assert arch["params"] == cost_model(spec).params(counts)
    assert arch["input_shape"] == [1, spec.in_channels, spec.input_size, spec.input_size]
    assert arch["score"] == 0.75 and arch["chosen"] == extra["chosen"]
    assert list(arch["channels"]) == list(spec.group_names)
    left_arch = read_arch(left_dir)
    for g, (name, c) in enumerate(zip(spec.group_names, widths, strict=True)):
        total = space.channels[g]
        per_bin = total // space.bins[g]
        # right path of width c: the LAST c bins of the (possibly enlarged) supernet group
        assert arch["channels"][name] == list(range(total - c * per_bin, total)), name
        assert left_arch["channels"][name] == list(range(c * per_bin)), name
        assert len(arch["channels"][name]) == counts[g]
    if rule_name == "bcnetv2":  # 4 + 2 bins: a full-width right path skips the first 2 bins
        assert arch["channels"]["conv2"][0] == 2 * (space.channels[1] // 6)


def test_model_pt_loads_weights_only(tmp_path: Path) -> None:
    space = make_space("bcnet", "cbm-resnet")
    supernet = trained_supernet(space, "bcnet", fresh_seed())
    path = get_rule("bcnet").paths(space, space.max_widths())[1]
    out_dir = export_path(supernet, space, "bcnet", path, tmp_path / "e", onnx=False)
    state = torch.load(out_dir / "model.pt", map_location="cpu", weights_only=True)
    loaded = load_exported(out_dir)
    assert set(state) == set(loaded.state_dict())
    for name, value in loaded.state_dict().items():
        assert isinstance(state[name], torch.Tensor)
        assert torch.equal(state[name], value), name


def test_refuses_non_empty_out_dir(tmp_path: Path) -> None:
    space = make_space("ua", "plaincnn")
    supernet = trained_supernet(space, "ua", fresh_seed())
    path = get_rule("ua").paths(space, space.max_widths())[0]
    out_dir = tmp_path / "taken"
    out_dir.mkdir()
    (out_dir / "arch.json").write_text("mine\n")
    (out_dir / "notes.txt").write_text("keep me\n")
    before = sorted(os.listdir(tmp_path))
    mtime = (out_dir / "arch.json").stat().st_mtime_ns
    with pytest.raises(SlimnasError, match="not empty"):
        export_path(supernet, space, "ua", path, out_dir, onnx=False)
    assert sorted(os.listdir(tmp_path)) == before  # no temp dir left behind
    assert sorted(os.listdir(out_dir)) == ["arch.json", "notes.txt"]
    assert (out_dir / "arch.json").read_text() == "mine\n"
    assert (out_dir / "arch.json").stat().st_mtime_ns == mtime
    assert (out_dir / "notes.txt").read_text() == "keep me\n"
    # an existing EMPTY directory is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    export_path(supernet, space, "ua", path, empty, onnx=False)
    assert sorted(os.listdir(empty)) == ["arch.json", "model.pt"]


def test_extra_may_not_overwrite_fields(tmp_path: Path) -> None:
    space = make_space("ua", "plaincnn")
    supernet = trained_supernet(space, "ua", fresh_seed())
    path = get_rule("ua").paths(space, space.max_widths())[0]
    with pytest.raises(ValueError, match="widths"):
        export_path(supernet, space, "ua", path, tmp_path / "e", extra={"widths": [1]},
                    onnx=False)
    assert not (tmp_path / "e").exists()


def test_load_exported_refuses_bad_directories(tmp_path: Path) -> None:
    with pytest.raises(SlimnasError, match="no exported model"):
        load_exported(tmp_path / "missing")
    with pytest.raises(SlimnasError, match="arch.json"):
        load_exported(tmp_path)
    (tmp_path / "arch.json").write_text(json.dumps({"format": "something-else/9"}))
    with pytest.raises(SlimnasError, match="unknown format"):
        load_exported(tmp_path)
    (tmp_path / "arch.json").write_text("{not json")
    with pytest.raises(SlimnasError):
        load_exported(tmp_path)


def test_load_exported_refuses_mismatched_weights(tmp_path: Path) -> None:
    space = make_space("ua", "plaincnn")
    supernet = trained_supernet(space, "ua", fresh_seed())
    rule = get_rule("ua")
    a = export_path(supernet, space, "ua", rule.paths(space, (1, 1, 1))[0], tmp_path / "a",
                    onnx=False)
    b = export_path(supernet, space, "ua", rule.paths(space, (4, 4, 4))[0], tmp_path / "b",
                    onnx=False)
    (a / "model.pt").unlink()
    with pytest.raises(SlimnasError, match="model.pt"):
        load_exported(a)
    (a / "model.pt").write_bytes((b / "model.pt").read_bytes())
    with pytest.raises(SlimnasError, match="does not match"):
        load_exported(a)


def test_load_exported_in_fresh_process(tmp_path: Path) -> None:
    seed = fresh_seed()
    space = make_space("bcnetv2", "cbm-mobilenet")
    supernet = trained_supernet(space, "bcnetv2", seed)
    path = get_rule("bcnetv2").paths(space, space.sample(random.Random(seed)))[1]
    out_dir = export_path(supernet, space, "bcnetv2", path, tmp_path / "e", onnx=False)
    x = sample_input(space, 3, seed)
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import sys, torch\n"
        "from slimnas.width.export import load_exported\n"
        "net = load_exported(sys.argv[1])\n"
        "x = torch.load(sys.argv[2], weights_only=True)\n"
        "with torch.no_grad():\n"
        "    torch.save(net(x), sys.argv[3])\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)}
    subprocess.run(
        [sys.executable, "-c", script, str(out_dir), str(tmp_path / "x.pt"),
         str(tmp_path / "y.pt")],
        check=True, env=env, cwd=tmp_path, timeout=120,
    )
    got = torch.load(tmp_path / "y.pt", weights_only=True)
    with torch.no_grad():
        want = supernet(x, selections(space, path))
    err = (want - got).abs().max().item()
    assert err <= 1e-5, f"seed={seed}: max err {err}"
