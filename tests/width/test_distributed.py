"""A real 2-process torchrun (gloo) run equals a 1-process run on the same two half-batches."""

import socket
import subprocess

import pytest
import torch
from conftest import PYTHON, REPO, cli_env
from conftest import tiny_config as tiny_cfg

from slimnas.config import dump_config
from slimnas.io import load_checkpoint
from slimnas.runs import CHECKPOINT
from slimnas.width.train import train_supernet


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("model", [None, "examples.tiny_cnn:TinyCNN"],
                         ids=["built-in space", "a user's model"])
def test_torchrun_two_ranks_match_one_process_with_two_micro_batches(tmp_path, monkeypatch,
                                                                     model):
    monkeypatch.chdir(REPO)  # a user's model is imported from where slimnas runs

    def tiny_config(out, **train):
        cfg = tiny_cfg(out, **train)
        cfg["model"] = model
        return cfg

    ddp_cfg = tiny_config(tmp_path / "ddp", epochs=1)
    cfg_file = tmp_path / "ddp.yaml"
    cfg_file.write_text(dump_config(ddp_cfg))
    cmd = [PYTHON, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "-m", "slimnas.cli", "train-supernet", str(cfg_file)]
    env = cli_env()
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]

    # the reference: each global batch split into the same two halves (BN statistics per
    # half, as each rank computes them), gradients averaged
    # one thread like each rank: the same float reduction order inside every op
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = train_supernet(tiny_config(tmp_path / "one", epochs=1, micro_batches=2))
    finally:
        torch.set_num_threads(threads)
    a = load_checkpoint(tmp_path / "ddp" / CHECKPOINT)
    b = load_checkpoint(tmp_path / "one" / CHECKPOINT)
    assert a["global_step"] == b["global_step"] == one["steps"] > 0
    params = [k for k in a["model"] if "running" not in k and "num_batches" not in k]
    for k in params:
        diff = float((a["model"][k] - b["model"][k]).abs().max())
        assert torch.allclose(a["model"][k], b["model"][k], rtol=1e-4, atol=1e-5), (k, diff)
    # every rank sampled the same widths, so the lowest-loss records agree
    wa = [w for _, w in a["records"]]
    wb = [w for _, w in b["records"]]
    assert wa == wb
    # and the rank-averaged losses equal the micro-batch-averaged ones
    la = torch.tensor([loss for loss, _ in a["records"]])
    lb = torch.tensor([loss for loss, _ in b["records"]])
    torch.testing.assert_close(la, lb, rtol=1e-4, atol=1e-5)
