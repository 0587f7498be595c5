"""Run plumbing shared by every trainer (supernets, retraining, cell search, evaluation
networks, benchmark builds): seeds derived per step, generators, the device, the run
directory and its checkpoint name. Logs, schedules and divergence checks: slimnas.runlog."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from slimnas.errors import SlimnasError
from slimnas.io import probe_writable

CHECKPOINT = "checkpoint.pt"


def derived_seed(seed: int, *parts) -> int:
    """A 63-bit seed from `seed` and any labels (step, epoch, purpose): independent streams."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator(seed: int, *parts) -> torch.Generator:
    """A CPU generator seeded with `derived_seed(seed, *parts)`."""
    return torch.Generator().manual_seed(derived_seed(seed, *parts))


def resolve_device(name: str) -> torch.device:
    """"auto" (CUDA when present, else the CPU), "cpu", "cuda" or "cuda:N"."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SlimnasError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SlimnasError("device cuda requested but CUDA is not available")
    return dev


def check_out(out: Path, resume: bool, probe: bool = True) -> None:
    """A fresh run needs an empty (or new) `out`; `--resume` needs its checkpoint; `out`
    must be writable (`probe`: one process probes, not every torchrun rank at once)."""
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise SlimnasError(f"--resume: no {CHECKPOINT} in {out}")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SlimnasError(f"{out} already exists and is not empty; pass --resume or choose "
                           "another out")
    if probe:
        probe_writable(out)
