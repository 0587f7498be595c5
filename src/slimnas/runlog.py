"""Run bookkeeping shared by every trainer (supernets, retraining, cell search, evaluation
networks): the per-step cosine schedule, log.csv, TensorBoard scalars, divergence checks,
the torch thread count."""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

from slimnas.errors import SlimnasError


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


class NonFiniteLoss(SlimnasError):
    """Training diverged: a loss (or, before a checkpoint, a weight) is NaN or infinite."""


def check_finite_loss(loss: float, step: int, steps_per_epoch: int, what: str, hint: str,
                      checkpoint: Path | None = None) -> None:
    """Stop a run at the first non-finite loss with one line: where, what to try, what is kept.

    `step` is 0-based. Runs never write a checkpoint after a non-finite loss or with
    non-finite weights (`check_finite_weights`), so `checkpoint`, if any, is the last good one."""
    if math.isfinite(loss):
        return
    epoch = step // max(1, steps_per_epoch) + 1
    raise NonFiniteLoss(f"{what} diverged: the loss is {loss} at step {step + 1} (epoch "
                        f"{epoch}); try a lower {hint}" + _kept(checkpoint))


def check_finite_weights(module, what: str, when: str, hint: str,
                         checkpoint: Path | None = None) -> None:
    """Before a checkpoint (or a result) is written: stop if a weight or buffer is NaN or
    infinite (a finite loss can still take a step that diverges)."""
    import torch

    if all(bool(torch.isfinite(t).all()) for t in (*module.parameters(), *module.buffers())
           if t.is_floating_point()):
        return
    raise NonFiniteLoss(f"{what} diverged: non-finite weights {when}; try a lower {hint}"
                        + _kept(checkpoint))


def _kept(checkpoint: Path | None) -> str:
    return "" if checkpoint is None else f"; {kept_checkpoint(checkpoint)}"


def kept_checkpoint(path: Path) -> str:
    """Words for a divergence message: the last good checkpoint, if there is one."""
    path = Path(path)
    if not path.is_file():
        return "no checkpoint was written yet"
    from slimnas.io import load_checkpoint

    try:
        state = load_checkpoint(path)
        at = f" (step {state['global_step']})"
    except (SlimnasError, KeyError, TypeError):
        at = ""
    return f"the last good checkpoint{at} is kept: {path}"


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with `n` intra-op threads (0: unchanged), restoring the caller's count after."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
