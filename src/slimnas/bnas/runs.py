"""What the search and the evaluation training share: run directories,
gradients averaged across torchrun ranks (logs and the schedule: slimnas.runlog)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from slimnas import distributed as D
from slimnas.errors import SlimnasError
from slimnas.io import probe_writable

CHECKPOINT = "checkpoint.pt"


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


def average_gradients(params: list[torch.nn.Parameter], info: D.DistInfo) -> None:
    """Mean of every parameter's gradient over the ranks (one all-reduce, flattened)."""
    if not info.enabled:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


