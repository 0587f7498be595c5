"""Run bookkeeping shared by every trainer (supernets, retraining, cell search, evaluation
networks): the per-step cosine schedule, log.csv, TensorBoard scalars."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path


def cosine_factor(total_steps: int, floor: float = 0.0):
    """LambdaLR factor: cosine from 1 to `floor` over `total_steps` steps."""
    def factor(step: int) -> float:
        t = min(step, total_steps) / max(1, total_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    return factor


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
