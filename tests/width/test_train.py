import os
import signal
import subprocess
import time

import pytest
import torch
from conftest import PYTHON, cli_env, tiny_config

from slimnas.config import dump_config
from slimnas.errors import SlimnasError
from slimnas.io import load_checkpoint
from slimnas.runs import CHECKPOINT
from slimnas.width.train import TrainingInterrupted, train_supernet


def _weights(out):
    return load_checkpoint(out / CHECKPOINT)["model"]


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    summary = train_supernet(tiny_config(out))
    return out, summary


def test_training_writes_checkpoint_log_records(reference):
    out, summary = reference
    state = load_checkpoint(out / CHECKPOINT)
    assert state["global_step"] == summary["steps"] > 0
    assert len(state["records"]) == min(100, summary["steps"])
    losses = [loss for loss, _ in state["records"]]
    assert losses == sorted(losses)
    assert (out / "log.csv").read_text().startswith("epoch,step,train_loss")
    assert (out / "records.json").is_file() and (out / "config.yaml").is_file()
    # the loss goes down
    assert summary["history"][-1]["train_loss"] < summary["history"][0]["train_loss"]


def test_resume_after_crash_mid_epoch_is_bit_exact(reference, tmp_path):
    ref_out, summary = reference
    spe = summary["steps"] // 2
    cfg = tiny_config(tmp_path)
    with pytest.raises(TrainingInterrupted):
        train_supernet(cfg, interrupt_at_step=spe + spe // 2)  # mid epoch 2, nothing saved
    assert load_checkpoint(tmp_path / CHECKPOINT)["global_step"] == spe
    train_supernet(cfg, resume=True)
    _assert_identical(_weights(ref_out), _weights(tmp_path))


def test_resume_from_mid_epoch_checkpoint_is_bit_exact(reference, tmp_path):
    ref_out, summary = reference
    cfg = tiny_config(tmp_path, checkpoint_every_steps=5)
    with pytest.raises(TrainingInterrupted):
        train_supernet(cfg, interrupt_at_step=summary["steps"] - 3)
    assert load_checkpoint(tmp_path / CHECKPOINT)["global_step"] % (summary["steps"] // 2)
    train_supernet(cfg, resume=True)
    _assert_identical(_weights(ref_out), _weights(tmp_path))
    # log.csv: the resumed epoch's loss averages all its steps, the seconds keep counting
    ref = load_checkpoint(ref_out / CHECKPOINT)["history"]
    got = load_checkpoint(tmp_path / CHECKPOINT)["history"]
    assert [r["train_loss"] for r in got] == [r["train_loss"] for r in ref]
    assert got[1]["seconds"] >= got[0]["seconds"]


def test_refuses_to_overwrite_and_checks_resume(reference, tmp_path):
    ref_out, _ = reference
    with pytest.raises(SlimnasError, match="already holds a run"):
        train_supernet(tiny_config(ref_out))
    with pytest.raises(SlimnasError, match="no checkpoint.pt"):
        train_supernet(tiny_config(tmp_path / "empty"), resume=True)
    cfg = tiny_config(ref_out)
    cfg["rule"] = "ua"
    cfg["threads"] = 2  # bit-exact resume needs the same thread count
    cfg["train"]["weight_decay"] = 0.0
    with pytest.raises(SlimnasError, match="other settings") as e:
        train_supernet(cfg, resume=True)
    named = str(e.value).split(": ")[2].split(";")[0].split(", ")
    assert sorted(named) == ["rule", "threads", "train.weight_decay"]


def test_divergence_stops_at_the_first_non_finite_loss_keeping_the_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, epochs=3)
    train_supernet({**cfg, "train": {**cfg["train"], "epochs": 1}})  # one good epoch first
    good = _weights(tmp_path)
    cfg["train"]["lr"] = 1e12  # refused on resume: start a second run from the good one
    state = load_checkpoint(tmp_path / CHECKPOINT)
    cfg["out"] = str(tmp_path / "second")
    with pytest.raises(SlimnasError) as e:
        train_supernet(cfg)
    msg = str(e.value)
    assert "diverged" in msg and "step" in msg and "train.lr" in msg and "\n" not in msg
    assert state["global_step"] > 0
    _assert_identical(good, _weights(tmp_path))  # the first run's checkpoint is untouched
    second = tmp_path / "second" / CHECKPOINT
    if second.exists():
        assert all(torch.isfinite(v).all() for v in _weights(tmp_path / "second").values()
                   if v.is_floating_point())


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_exact(reference, tmp_path):
    """A real kill of the CLI process mid-epoch, then `--resume`."""
    ref_out, summary = reference
    cfg = tiny_config(tmp_path / "run", checkpoint_every_steps=0)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(dump_config(cfg))
    cmd = [PYTHON, "-m", "slimnas.cli", "train-supernet", str(cfg_file)]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = tmp_path / "run" / CHECKPOINT
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(ckpt)["global_step"] < summary["steps"]  # really cut short
    done = subprocess.run(cmd + ["--resume"], env=cli_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _assert_identical(_weights(ref_out), _weights(tmp_path / "run"))


def test_tensorboard_scalars_are_written(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_supernet(tiny_config(tmp_path, epochs=1, tensorboard=True))
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"supernet/train_loss", "supernet/lr", "supernet/acc_max"} <= set(tags)
