"""The shared run plumbing: seeds, devices, run directories and the epoch skeleton."""

import csv

import pytest
import torch

from slimnas.errors import SlimnasError
from slimnas.io import load_checkpoint
from slimnas.runs import (
    CHECKPOINT,
    NonFiniteLoss,
    RunInterrupted,
    TrainingRun,
    derived_seed,
    generator,
    resolve_device,
)


def test_derived_seeds_are_stable_and_independent():
    assert derived_seed(0, "aug", 3) == derived_seed(0, "aug", 3)
    seeds = {derived_seed(s, part, step) for s in (0, 1) for part in ("aug", "epoch")
             for step in range(50)}
    assert len(seeds) == 200
    assert all(0 <= s < 2**63 for s in seeds)
    assert torch.equal(torch.rand(4, generator=generator(5, "x")),
                       torch.rand(4, generator=generator(5, "x")))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(SlimnasError, match="unknown device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(SlimnasError, match="CUDA is not available"):
            resolve_device("cuda")


def _run(out, resume=False, **kw):
    run = TrainingRun(out, "test-run/1", "toy training", "toy", resume=resume,
                      progress=False, **kw)
    run.schedule(3, 2)
    return run


def _train(run, net, losses, cfg=None):
    run.begin(cfg or {"seed": 0})
    for epoch in run.epochs():
        for _ in run.steps(epoch):
            run.advance(losses[run.step])
        run.end_epoch({"lr": 0.1})
        run.save(net, {"model": net.state_dict()}, "train.lr")
    run.close()


def test_a_run_logs_its_epochs_and_resumes_where_it_stopped(tmp_path):
    net = torch.nn.Linear(2, 2)
    losses = [float(i) for i in range(6)]
    run = _run(tmp_path / "r", interrupt_at_step=4)
    with pytest.raises(RunInterrupted):
        _train(run, net, losses)
    state = load_checkpoint(tmp_path / "r" / CHECKPOINT)
    assert state["format"] == "test-run/1" and state["global_step"] == 3
    assert [r["train_loss"] for r in state["history"]] == [1.0]

    with pytest.raises(SlimnasError, match="already exists"):
        _run(tmp_path / "r")
    again = _run(tmp_path / "r", resume=True)
    seen = []
    state = again.resume_state("cpu", seen.append)
    assert seen == [state] and again.step == 3
    _train(again, net, losses)
    assert again.step == 6
    with open(tmp_path / "r" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["epoch"], r["step"], float(r["train_loss"])) for r in rows] == \
        [("1", "3", 1.0), ("2", "6", 4.0)]
    assert (tmp_path / "r" / "config.yaml").is_file()


def test_resume_refuses_another_runs_checkpoint_and_a_missing_one(tmp_path):
    with pytest.raises(SlimnasError, match="--resume: no checkpoint.pt"):
        _run(tmp_path / "none", resume=True)
    torch.save({"format": "other/1"}, tmp_path / CHECKPOINT)
    run = _run(tmp_path, resume=True)
    with pytest.raises(SlimnasError, match="not a slimnas toy training checkpoint"):
        run.resume_state("cpu", lambda state: None)


def test_a_fresh_run_may_share_a_folder_but_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    _run(tmp_path, need_empty=False)  # allowed: no checkpoint here yet
    (tmp_path / CHECKPOINT).write_bytes(b"x")
    with pytest.raises(SlimnasError, match="already holds a run"):
        _run(tmp_path, need_empty=False)


def test_a_step_must_advance_the_clock(tmp_path):
    run = _run(tmp_path / "r")
    run.begin({})
    with pytest.raises(RuntimeError, match="run.advance"):
        for _ in run.steps(0):
            pass


def test_non_finite_weights_never_replace_the_last_good_checkpoint(tmp_path):
    net = torch.nn.Linear(2, 2)
    run = _run(tmp_path / "r")
    run.begin({})
    for _ in run.steps(0):
        run.advance(1.0)
    run.save(net, {"model": net.state_dict()}, "train.lr")
    with torch.no_grad():
        net.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteLoss, match="toy training diverged.*last good checkpoint"):
        run.save(net, {"model": net.state_dict()}, "train.lr")
    kept = load_checkpoint(tmp_path / "r" / CHECKPOINT)
    assert torch.isfinite(kept["model"]["weight"]).all()
    with pytest.raises(NonFiniteLoss, match="the loss is nan at step 4"):
        for _ in run.steps(1):
            run.check_loss(float("nan"), "train.lr")
