"""Supernet training: one loop for every sharing rule.

A step samples a width vector, asks the rule for its paths and loss weights, and
back-propagates sum_i w_i * CE(f(x; path_i)) on the same batch (BCNet: 0.5 * (left +
right)). All randomness of step t (data order, augmentation, widths) is derived from
(seed, t), so `--resume` continues bit-exactly and every torchrun rank samples the same
widths. Checkpoints are written atomically at every epoch end (and every N steps).
"""

from __future__ import annotations

import heapq
import random
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from slimnas import distributed as D
from slimnas.config import check_config, differing_keys, dump_config, with_defaults
from slimnas.data import Augment
from slimnas.errors import SlimnasError
from slimnas.io import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
    probe_writable,
)
from slimnas.runlog import (
    check_finite_loss,
    check_finite_weights,
    cosine_factor,
    csv_bytes,
    log_scalars,
    tensorboard,
    torch_threads,
)
from slimnas.runs import CHECKPOINT, generator, resolve_device
from slimnas.width.context import build_context
from slimnas.width.evaluate import WidthScorer, candidate_losses
from slimnas.width.net import build_supernet, selections
from slimnas.width.sampler import WidthSampler

FORMAT = "slimnas-supernet/1"


class PathsLoss(nn.Module):
    """sum_i w_i * CE(net(x, path_i), y): one forward call per step, so DDP sees one graph."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x, y, paths, weights):
        return sum(w * F.cross_entropy(self.net(x, p), y) for p, w in zip(paths, weights,
                                                                          strict=True))


class TrainingInterrupted(Exception):
    """Raised by `interrupt_at_step` (tests simulate a crash without a checkpoint)."""


def train_supernet(cfg: dict, resume: bool = False, interrupt_at_step: int | None = None) -> dict:
    """Train a supernet as `cfg` says; returns a summary dict. See DEFAULTS in config.py.

    A non-finite loss stops the run (NonFiniteLoss, a SlimnasError) before the step is
    applied; checkpoints are never written with non-finite weights, so the last good one is
    kept. Runs with `cfg["threads"]` torch threads (0: torch's default)."""
    check_config(cfg)
    with torch_threads(cfg["threads"]):
        return _train(cfg, resume, interrupt_at_step)


def _train(cfg: dict, resume: bool, interrupt_at_step: int | None) -> dict:
    t = cfg["train"]
    info, device = D.init_from_env(resolve_device(cfg["device"]))
    out = Path(cfg["out"])
    ckpt_path = out / CHECKPOINT
    if resume and not ckpt_path.is_file():
        raise SlimnasError(f"--resume: no {CHECKPOINT} in {out}")
    if not resume and ckpt_path.exists():
        raise SlimnasError(f"{out} already holds a run; pass --resume or choose another out")
    if info.is_main:
        probe_writable(out)

    ctx = build_context(cfg, device)
    space, rule = ctx.space, ctx.rule
    world, micro = info.world_size, t["micro_batches"]
    batch = t["batch_size"]
    if micro < 1 or batch % (world * micro):
        raise SlimnasError(
            f"batch_size {batch} must divide into {world} ranks x {micro} micro-batches"
        )
    steps_per_epoch = len(ctx.train_x) // batch
    if steps_per_epoch < 1:
        raise SlimnasError(f"batch_size {batch} exceeds the {len(ctx.train_x)} training images")
    total_steps = steps_per_epoch * t["epochs"]

    torch.manual_seed(cfg["seed"])
    supernet = build_supernet(space).to(device)
    model: nn.Module = PathsLoss(supernet)
    if info.enabled:
        model = nn.parallel.DistributedDataParallel(model)
    decay = [p for n, p in supernet.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in supernet.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": t["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=t["lr"], momentum=t["momentum"], nesterov=t["nesterov"] and t["momentum"] > 0,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(total_steps))
    records: list[tuple[float, tuple[int, ...]]] = []  # max-heap by -loss
    history: list[dict] = []
    step, epoch_loss, elapsed = 0, (0.0, 0), 0.0
    if resume:
        state = load_checkpoint(ckpt_path, map_location=device)
        _check_compatible(state, cfg)
        supernet.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, history = state["global_step"], list(state["history"])
        records = [(-loss, tuple(w)) for loss, w in state["records"]]
        heapq.heapify(records)
        # a mid-epoch checkpoint carries its epoch's running loss and the time spent so far
        epoch_loss = tuple(state.get("epoch_loss", (0.0, 0)))
        elapsed = state.get("seconds", history[-1]["seconds"] if history else 0.0)

    sampler = WidthSampler(space, cfg["seed"], cfg["complementary"])
    augment = Augment(cfg["data"]["pad"], cfg["data"]["flip"])
    scorer = WidthScorer(supernet, space, rule, ctx.recal_x, ctx.held_x, ctx.held_y,
                         cfg["score"]["recal_batches"], cfg["score"]["batch_size"],
                         recal_y=ctx.recal_y)
    writer = tensorboard(out, t["tensorboard"] and info.is_main)
    chunk = batch // (world * micro)
    start = time.time() - elapsed

    def save(loss_sum: float, loss_n: int) -> None:
        check_finite_weights(supernet, "supernet", f"after step {step}",  # keep the good one
                             f"train.lr ({t['lr']} now)", ckpt_path)
        if info.is_main:
            atomic_torch_save({
                "format": FORMAT, "config": cfg, "space": space.describe(), "rule": cfg["rule"],
                "model": supernet.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "global_step": step,
                "epoch": step // steps_per_epoch, "history": history,
                "records": sorted((-nl, list(w)) for nl, w in records),
                "data_stats": {"mean": ctx.mean, "std": ctx.std},
                "epoch_loss": [loss_sum, loss_n], "seconds": round(time.time() - start, 2),
            }, ckpt_path)
            atomic_write_json(out / "records.json", sorted([-nl, list(w)] for nl, w in records))
        D.barrier(info)

    if info.is_main:
        atomic_write_bytes(out / "config.yaml", dump_config(cfg).encode())
    from tqdm import tqdm

    for epoch in range(step // steps_per_epoch, t["epochs"]):
        perm = torch.randperm(len(ctx.train_x), generator=generator(cfg["seed"], "epoch", epoch))
        perm = perm.to(device)
        bar = tqdm(total=steps_per_epoch, initial=step % steps_per_epoch,
                   desc=f"supernet epoch {epoch + 1}/{t['epochs']}", leave=False,
                   disable=not (t["progress"] and info.is_main))
        loss_sum, loss_n = epoch_loss if step % steps_per_epoch else (0.0, 0)
        supernet.train()
        while step < (epoch + 1) * steps_per_epoch:
            if interrupt_at_step is not None and step == interrupt_at_step:
                raise TrainingInterrupted(step)
            i = step % steps_per_epoch
            idx = perm[i * batch:(i + 1) * batch]
            widths = sampler(step)
            xs, ys = [], []
            for m in range(micro):
                c = info.rank * micro + m
                part = idx[c * chunk:(c + 1) * chunk]
                xs.append(augment(ctx.train_x[part], generator(cfg["seed"], "aug", step, c)))
                ys.append(ctx.train_y[part])
            choices = rule.choices(space, widths, random.Random(f"{cfg['seed']}:choice:{step}"))
            step_loss, _ = train_step(model, supernet, space, rule, choices, xs, ys,
                                      sync_last=info.enabled,
                                      reduce=lambda v: D.mean_vector(v, info, device))
            step_loss = D.mean_across(step_loss, info, device)  # every rank stops together
            check_finite_loss(step_loss, step, steps_per_epoch, "supernet",
                              f"train.lr ({t['lr']} now)", ckpt_path)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            _keep_lowest(records, step_loss, widths, t["records"])
            loss_sum, loss_n = loss_sum + step_loss, loss_n + 1
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}")
            if t["checkpoint_every_steps"] and step % t["checkpoint_every_steps"] == 0 \
                    and step % steps_per_epoch:
                save(loss_sum, loss_n)
        bar.close()
        row = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / max(1, loss_n),
               "lr": opt.param_groups[0]["lr"], "seconds": round(time.time() - start, 2)}
        if info.is_main and t["eval_every"] and (epoch + 1) % t["eval_every"] == 0:
            scorer.forget_choices()
            row["acc_max"] = scorer.score(space.max_widths())
            row["acc_min"] = scorer.score(space.min_widths())
        history.append(row)
        log_scalars(writer, "supernet", row, step)
        if info.is_main:
            atomic_write_bytes(out / "log.csv", csv_bytes(history))
        save(0.0, 0)
    if writer is not None:
        writer.close()
    D.shutdown(info)
    return {"out": str(out), "checkpoint": str(ckpt_path), "steps": step,
            "history": history, "records": len(records)}


def train_step(model: nn.Module, supernet: nn.Module, space, rule, choices, xs, ys,
               sync_last: bool = False, reduce=None) -> tuple[float, int]:
    """Back-propagate one step's loss over micro-batches `xs`, `ys`; returns (loss, choice).

    With several candidate path sets (min-min rules) only the lowest-loss one is
    back-propagated (ALGORITHMS.md 1.8); `reduce` averages the candidate losses across
    ranks first so every rank picks the same one. `model` wraps `supernet` (PathsLoss,
    maybe inside DDP; `sync_last`: only the last micro-batch all-reduces gradients).
    """
    pick = 0
    if len(choices) > 1:
        losses = candidate_losses(supernet, space, rule, choices, xs, ys)
        if reduce is not None:
            losses = reduce(losses)
        pick = min(range(len(losses)), key=losses.__getitem__)
    paths = choices[pick]
    sels = [selections(space, p) for p in paths]
    weights = rule.loss_weights(paths)
    micro, step_loss = len(xs), 0.0
    for m, (x, y) in enumerate(zip(xs, ys, strict=True)):
        last = m == micro - 1
        with (model.no_sync() if sync_last and not last else nullcontext()):
            loss = model(x, y, sels, weights) / micro
            loss.backward()
        step_loss += float(loss.detach())
    return step_loss, pick


def _keep_lowest(heap: list, loss: float, widths: tuple[int, ...], n: int) -> None:
    if n <= 0:
        return
    item = (-loss, tuple(widths))
    if len(heap) < n:
        heapq.heappush(heap, item)
    elif loss < -heap[0][0]:
        heapq.heapreplace(heap, item)


# settings that change no number of a run: they may differ on resume
COSMETIC = ("out", "device", "train.progress", "train.tensorboard", "train.checkpoint_every_steps",
            "train.eval_every")


def _check_compatible(state: dict, cfg: dict) -> None:
    if state.get("format") != FORMAT:
        raise SlimnasError("the checkpoint is not a slimnas supernet checkpoint")
    old = with_defaults(state["config"])
    # search and retraining settings belong to `slimnas run`, which checks them itself
    diff = differing_keys(old, cfg, ignore=(*COSMETIC, "search", "retrain"))
    if diff:
        raise SlimnasError(f"--resume: the checkpoint was made with other settings: "
                           f"{', '.join(diff)}; rerun with its settings or choose another out")
