"""Run plumbing shared by every trainer (supernets, retraining, cell search, evaluation
networks, benchmark builds): seeds derived per step, generators, the device, the run
directory and its checkpoint name, and `TrainingRun`, the epoch skeleton (resume,
config.yaml, checkpoints, log rows, progress) around each trainer's own step.
The per-step cosine schedule, log.csv and TensorBoard rows, divergence checks and the torch
thread count are here too."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from slimnas.errors import SlimnasError
from slimnas.io import (
    atomic_torch_save,
    atomic_write_bytes,
    load_checkpoint,
    probe_writable,
)

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
    try:
        state = load_checkpoint(path)
        at = f" (step {state['global_step']})"
    except (SlimnasError, KeyError, TypeError):
        at = ""
    return f"the last good checkpoint{at} is kept: {path}"


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


class RunInterrupted(Exception):
    """Raised at `interrupt_at_step` (tests simulate a crash that leaves no checkpoint)."""


class TrainingRun:
    """The epoch skeleton every trainer shares; the trainer keeps its own step in view.

    `what` names the run in messages ("cell search"), `tag` in the progress bar and
    TensorBoard ("search"). The shape of a trainer:

        run = TrainingRun(out, FORMAT, "supernet", "supernet", resume=...)
        total = run.schedule(steps_per_epoch, epochs)
        state = run.resume_state(device, check)      # None for a fresh run
        run.begin(cfg)                               # config.yaml (+ TensorBoard)
        for epoch in run.epochs():
            for i in run.steps(epoch):               # i: the step's index in its epoch
                ...one step...; run.check_loss(loss, hint); run.advance(loss)
            run.end_epoch({"lr": ...}); run.save(net, {...}, hint)
        run.close()

    `run.step` is the global step (0-based; the current one inside `steps`). Only the main
    torchrun process (`is_main`) writes; `barrier` is called after every checkpoint. A fresh
    run refuses an `out` that holds a checkpoint (`need_empty`: any non-empty `out`).
    """

    def __init__(self, out: str | Path, fmt: str, what: str, tag: str, *, resume: bool,
                 is_main: bool = True, need_empty: bool = True, progress: bool = True,
                 tensorboard: bool = False, interrupt_at_step: int | None = None,
                 barrier: Callable[[], None] = lambda: None):
        self.out, self.fmt, self.what, self.tag = Path(out), fmt, what, tag
        self.checkpoint = self.out / CHECKPOINT
        self.resume, self.is_main, self.barrier = resume, is_main, barrier
        self.steps_per_epoch, self.epoch_count, self.total_steps = 1, 0, 0
        self.progress, self._tensorboard = progress and is_main, tensorboard and is_main
        self.interrupt_at_step = interrupt_at_step
        self.step, self.history, self.writer = 0, [], None
        self.loss_sum, self.loss_n = 0.0, 0  # the running epoch's training loss
        self._elapsed, self._start, self._bar = 0.0, time.time(), None
        if need_empty or resume:
            check_out(self.out, resume, probe=is_main)
        else:
            if self.checkpoint.exists():
                raise SlimnasError(f"{self.out} already holds a run; pass --resume or choose "
                                   "another out")
            if is_main:
                probe_writable(self.out)

    def schedule(self, steps_per_epoch: int, epochs: int, total_steps: int | None = None) -> int:
        """Set the run's length (known once the data is loaded): `epochs` epochs, or
        exactly `total_steps` steps (a compute budget; the last epoch may be partial).
        Returns the total steps."""
        total = steps_per_epoch * epochs if total_steps is None else total_steps
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total
        self.epoch_count = -(-total // steps_per_epoch)
        return total

    def resume_state(self, map_location, check: Callable[[dict], None]) -> dict | None:
        """The checkpoint to resume from (None for a fresh run), after its format and
        `check(state)` (settings the same as the checkpoint's) pass."""
        if not self.resume:
            return None
        state = load_checkpoint(self.checkpoint, map_location=map_location)
        if not isinstance(state, dict) or state.get("format") != self.fmt:
            raise SlimnasError(f"the checkpoint is not a slimnas {self.what} checkpoint")
        check(state)
        self.step, self.history = state["global_step"], list(state["history"])
        # a mid-epoch checkpoint carries its epoch's running loss and the time spent so far
        self.loss_sum, self.loss_n = tuple(state.get("epoch_loss", (0.0, 0)))
        self._elapsed = state.get("seconds", self.history[-1]["seconds"] if self.history else 0.0)
        return state

    def begin(self, cfg: dict) -> None:
        """Start the clock; write config.yaml; open TensorBoard (train.tensorboard)."""
        from slimnas.config import dump_config

        self._start = time.time() - self._elapsed
        if self.is_main:
            atomic_write_bytes(self.out / "config.yaml", dump_config(cfg).encode())
        self.writer = tensorboard(self.out, self._tensorboard)

    def seconds(self) -> float:
        return round(time.time() - self._start, 2)

    def epochs(self) -> Iterator[int]:
        """The epochs still to run (0-based)."""
        if self.step >= self.total_steps:
            return iter(())
        return iter(range(self.step // self.steps_per_epoch, self.epoch_count))

    def steps(self, epoch: int) -> Iterator[int]:
        """The steps of `epoch` still to run, as indices within the epoch; each ends with
        `advance`. Raises RunInterrupted at `interrupt_at_step`."""
        from tqdm import tqdm

        spe = self.steps_per_epoch
        if self.step % spe == 0:
            self.loss_sum, self.loss_n = 0.0, 0
        end = min((epoch + 1) * spe, self.total_steps)
        self._bar = tqdm(total=end - epoch * spe, initial=self.step % spe, leave=False,
                         desc=f"{self.tag} {epoch + 1}/{self.epoch_count}",
                         disable=not self.progress)
        try:
            while self.step < end:
                if self.step == self.interrupt_at_step:
                    raise RunInterrupted(self.step)
                start = self.step
                yield start % spe
                if self.step != start + 1:
                    raise RuntimeError("a training step must end with run.advance(loss)")
        finally:
            self._bar.close()

    def check_loss(self, loss: float, hint: str, what: str | None = None) -> None:
        """Stop at a non-finite loss, before the step is applied (check_finite_loss)."""
        check_finite_loss(loss, self.step, self.steps_per_epoch, what or self.what, hint,
                          self.checkpoint)

    def advance(self, loss: float) -> None:
        """End the current step: count its training loss, move the clock and the bar."""
        self.loss_sum, self.loss_n = self.loss_sum + loss, self.loss_n + 1
        self.step += 1
        self._bar.update(1)
        self._bar.set_postfix(loss=f"{loss:.3f}")

    def end_epoch(self, row: dict) -> dict:
        """Log the epoch's row (epoch, step, mean training loss, `row`, seconds): history,
        TensorBoard, log.csv. Returns the full row."""
        full = {"epoch": -(-self.step // self.steps_per_epoch), "step": self.step,
                "train_loss": self.loss_sum / max(1, self.loss_n), **row,
                "seconds": self.seconds()}
        self.history.append(full)
        log_scalars(self.writer, self.tag, full, self.step)
        if self.is_main:
            atomic_write_bytes(self.out / "log.csv", csv_bytes(self.history))
        return full

    def save(self, module, state: dict, hint: str, when: str = "") -> None:
        """Checkpoint `state` (plus the run's own fields) atomically, refusing non-finite
        weights of `module` first so the last good checkpoint survives."""
        check_finite_weights(module, self.what, f"after step {self.step}{when}", hint,
                             self.checkpoint)
        if self.is_main:
            atomic_torch_save({"format": self.fmt, **state, "global_step": self.step,
                               "epoch": self.step // self.steps_per_epoch,
                               "history": self.history, "seconds": self.seconds(),
                               "epoch_loss": [self.loss_sum, self.loss_n]}, self.checkpoint)
        self.barrier()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
