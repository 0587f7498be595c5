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
# The sandwich recipe runs 3 steps only (train.compute): it trains the min width (1-2
# channels a layer in this tiny net) every step, where a dead channel's BN output sits at
# its bias, about 0, and the ReLU after it passes a gradient or not by the last bit, so
# the ranks' and the one process's last-bit differences (averaging order) flip whole
# gradients within some tens of steps: chaos, not a difference in what is computed.
@pytest.mark.parametrize(("model", "recipe"), [
    (None, {}), ("examples.tiny_cnn:TinyCNN", {}),
    (None, {"sandwich": True, "inplace_distill": True, "full_net_every": 3, "steps": 3})],
    ids=["built-in space", "a user's model", "sandwich + distillation + full-net steps"])
def test_torchrun_two_ranks_match_one_process_with_two_micro_batches(tmp_path, monkeypatch,
                                                                     model, recipe):
    monkeypatch.chdir(REPO)  # a user's model is imported from where slimnas runs

    def tiny_config(out, **train):
        options = dict(recipe)
        steps = options.pop("steps", None)
        cfg = tiny_cfg(out, **train, **options)
        cfg["model"] = model
        if steps:  # the compute of exactly `steps` steps
            from slimnas.width.context import build_context
            from slimnas.width.sampler import StepPlanner
            from slimnas.width.steps import StepCompute

            t, ctx = cfg["train"], build_context(cfg, torch.device("cpu"))
            planner = StepPlanner(ctx.space, cfg["seed"], cfg["complementary"], t["sandwich"],
                                  t["sandwich_random"], t["full_net_every"],
                                  t["inplace_distill"])
            t["compute"] = StepCompute(ctx.space, ctx.rule, planner,
                                       t["batch_size"]).total(steps)
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
