"""The search trainer: CLR, warm-up, outputs, bit-exact resume, never overwriting."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from slimnas.bnas.search import SearchInterrupted, arch_lr_at, clr_scale, run_search
from slimnas.errors import SlimnasError
from slimnas.io import load_checkpoint
from slimnas.runs import CHECKPOINT


def test_clr_schedule():
    assert [clr_scale(e, 4) for e in range(4)] == [1 / 16, 4 / 16, 9 / 16, 1.0]
    s = {"arch_lr": 3e-4, "epochs": 4, "clr": True, "arch_warmup": 0}
    assert arch_lr_at(s, 0) == pytest.approx(3e-4 / 16)
    assert arch_lr_at(s, 3) == pytest.approx(3e-4)
    assert arch_lr_at(s | {"clr": False}, 0) == 3e-4
    assert arch_lr_at(s | {"arch_warmup": 2}, 1) == 0.0
    assert arch_lr_at(s | {"arch_warmup": 2}, 2) == pytest.approx(3e-4 * 9 / 16)


def test_clr_sets_adams_learning_rate_each_epoch(tiny):
    cfg = tiny("clr", "variant=darts-clr", "search.epochs=3", "search.max_steps_per_epoch=1",
               "search.arch_lr=0.01")
    run_search(cfg)
    out = cfg["out"]
    rows = [r["arch_lr"] for r in json.loads((Path(out) / "alphas.json").read_bytes())]
    assert rows == pytest.approx([0.01 / 9, 0.01 * 4 / 9, 0.01])
    state = load_checkpoint(f"{out}/{CHECKPOINT}")
    assert state["arch_optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.01)


def test_warmup_freezes_alphas_and_betas(tiny):
    cfg = tiny("warm", "variant=bnas-v2-pc", "search.arch_warmup=1", "search.arch_lr=0.05")
    run_search(cfg)
    hist = json.loads((Path(cfg["out"]) / "alphas.json").read_bytes())
    from slimnas.bnas.data import load_search_data
    from slimnas.bnas.search import search_spec
    from slimnas.bnas.search_net import SearchNetwork

    spec = search_spec(cfg, load_search_data(cfg, torch.device("cpu")))
    torch.manual_seed(cfg["seed"])  # as the trainer does before building
    init = SearchNetwork(spec)
    start = {k: v.tolist() for k, v in init.named_parameters() if k.startswith(("alphas", "betas"))}
    assert set(start) == {"alphas.normal", "alphas.reduce", "betas.normal", "betas.reduce"}
    assert hist[0]["logits"] == start  # epoch 1: warm-up, untouched
    assert hist[0]["arch_lr"] == 0.0
    assert all(hist[1]["logits"][k] != start[k] for k in start)  # epoch 2: updated
    assert "edge_weights" in hist[1]


def test_search_writes_its_outputs(tiny):
    cfg = tiny("out", "variant=bnas-d")
    summary = run_search(cfg)
    out = cfg["out"]
    from slimnas.bnas.genotype import read_genotype

    g = read_genotype(out + "/genotype.json")
    assert g.to_json() == summary["genotype"] and g.nodes == 2
    hist = json.loads((Path(out) / "alphas.json").read_bytes())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert len(hist[-1]["alphas"]["normal"]) == 5 and len(hist[-1]["alphas"]["normal"][0]) == 8
    assert hist[-1]["genotype"] == summary["genotype"]
    for name in ("normal.png", "reduce.png"):
        assert (out + "/" + name) in summary["plots"]
        with open(out + "/" + name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert json.loads((Path(out) / "search.json").read_bytes())["variant"] == "bnas-d"
    assert summary["steps"] == 4 and summary["held_out_top1"] is not None
    # never overwritten
    with pytest.raises(SlimnasError, match="not empty"):
        run_search(cfg)


def test_resume_is_bit_exact(tiny):
    over = ("variant=bnas-v2-pc", "search.clr=true")  # PC, edge norm, CLR: every moving part
    straight = tiny("straight", *over)
    run_search(straight)
    resumed = tiny("resumed", *over)
    with pytest.raises(SearchInterrupted):  # dies as epoch 2 starts, after epoch 1's checkpoint
        run_search(resumed, interrupt_at_step=2)
    assert load_checkpoint(resumed["out"] + "/" + CHECKPOINT)["global_step"] == 2
    run_search(resumed, resume=True)
    a = load_checkpoint(straight["out"] + "/" + CHECKPOINT)
    b = load_checkpoint(resumed["out"] + "/" + CHECKPOINT)
    assert a["global_step"] == b["global_step"] == 4
    assert a["model"].keys() == b["model"].keys()
    assert any(k.startswith("alphas.") for k in a["model"])
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for opt in ("weight_optimizer", "arch_optimizer"):
        for i, sa in a[opt]["state"].items():
            for name, t in sa.items():
                assert torch.equal(t, b[opt]["state"][i][name]), (opt, i, name)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in a["history"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in b["history"]]


def test_resume_refuses_a_different_config(tiny):
    cfg = tiny("a", "search.epochs=1")
    run_search(cfg)
    other = tiny("a", "search.epochs=1", "search.lr=0.1")
    with pytest.raises(SlimnasError, match="search.lr differs"):
        run_search(other, resume=True)
    with pytest.raises(SlimnasError, match="no checkpoint.pt"):
        run_search(tiny("b"), resume=True)


@pytest.mark.slow
def test_torchrun_two_ranks_search_and_agree(tmp_path, tiny_overrides):
    """A real 2-process torchrun (gloo) search of the PC variant runs to the end and writes
    its outputs (gradients of weights, alphas and betas are all-reduced)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={port}", "-m", "slimnas.cli", "bnas",
           "search", f"out={out}", *tiny_overrides, "search.epochs=1", "variant=bnas-v2-pc"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "genotype.json").is_file() and (out / "alphas.json").is_file()
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["global_step"] == 2
    for k, v in state["model"].items():
        assert torch.isfinite(v.float()).all(), k


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process_averaging_the_halves(tmp_path):
    """Two gloo ranks, each on its half of the batches, end with the same weights, alphas
    and betas as one process that averages the two halves' gradients (arch and weight
    steps, Adam, clipping, SGD): bit for bit at one thread, up to 1e-6 here."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={port}",
           str(Path(__file__).with_name("ddp_step_worker.py")), str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["moved"] > 1e-3  # the steps did train
    assert res["rank_diff"] == 0.0  # the ranks agree exactly
    assert res["ref_diff"] <= 1e-6


@pytest.mark.parametrize("override,hint", [("search.lr=1e12", "search.lr"),
                                           ("search.arch_lr=1e30", "search.arch_lr")])
def test_divergence_stops_the_search_with_one_line(tiny, override, hint):
    cfg = tiny("nan", "variant=bnas-d", "search.grad_clip=0", override)
    with pytest.raises(SlimnasError) as e:
        run_search(cfg)
    msg = str(e.value)
    assert "diverged" in msg and hint in msg and "step" in msg and "\n" not in msg
    assert not (Path(cfg["out"]) / "genotype.json").exists()
    ckpt = Path(cfg["out"]) / CHECKPOINT
    if ckpt.exists():  # only a good checkpoint is ever written
        state = load_checkpoint(ckpt)
        assert all(torch.isfinite(v).all() for v in state["model"].values()
                   if v.is_floating_point())
