import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO.parent / "shared" / "data" / "channel_bench_macro"
# every built-in space at sizes that build and run in milliseconds
SMALL_SPACES = {
    "cbm-mobilenet": dict(width_mult=0.125, input_size=16),
    "cbm-resnet": dict(width_mult=0.125, input_size=16, in_channels=1),
    "mobilenetv2": dict(width_mult=0.25, input_size=8),
    "resnet": dict(width_mult=0.25, input_size=8, in_channels=1),
    "plaincnn": dict(width=12, input_size=8, depth=4),
}


@pytest.fixture(scope="module")
def single_thread():
    """Tiny tensors: one thread is fastest, and immune to a busy machine's spinning pools."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def bench_dir(monkeypatch):
    monkeypatch.setenv("SLIMNAS_BENCH_DIR", str(BENCH_DIR))
    return BENCH_DIR


def tiny_config(out, **train):
    """A supernet config that trains in about a second on digits."""
    from slimnas.config import load_config

    cfg = load_config(None, [
        f"out={out}", "space={name: cbm-resnet, width_mult: 0.0625}", "rule=bcnetv2",
        "train.tensorboard=false", "train.progress=false", "train.epochs=2", "train.eval_every=1",
        "train.batch_size=64", "score.recal_batches=2", "data.held_out=0.2",
    ])
    cfg["train"].update(train)
    return cfg


def cli_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


PYTHON = sys.executable
