"""What the search and the evaluation training share: run directories, logs, gradients
averaged across torchrun ranks, the per-step cosine schedule."""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist

from slimnas import distributed as D
from slimnas.errors import SlimnasError

CHECKPOINT = "checkpoint.pt"


def check_out(out: Path, resume: bool) -> None:
    """A fresh run needs an empty (or new) `out`; `--resume` needs its checkpoint."""
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise SlimnasError(f"--resume: no {CHECKPOINT} in {out}")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SlimnasError(f"{out} already exists and is not empty; pass --resume or choose "
                           "another out")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with `n` intra-op threads (0: unchanged), restoring the caller's count after."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cosine_factor(total_steps: int, floor: float = 0.0):
    """LambdaLR factor: cosine from 1 to `floor` over `total_steps` steps."""
    def factor(step: int) -> float:
        t = min(step, total_steps) / max(1, total_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    return factor


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


def csv_bytes(history: list[dict]) -> bytes:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys and not isinstance(row[k], dict | list)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    w.writeheader()
    w.writerows(history)
    return buf.getvalue().encode()


def tensorboard(out: Path, enabled: bool):
    if not enabled:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out / "tb"))


def log_scalars(writer, prefix: str, row: dict, step: int) -> None:
    if writer is None:
        return
    for k, v in row.items():
        if k not in ("epoch", "step") and isinstance(v, int | float) and not isinstance(v, bool):
            writer.add_scalar(f"{prefix}/{k}", v, step)
    writer.flush()
