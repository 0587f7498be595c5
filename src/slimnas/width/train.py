"""Supernet training: one loop for every sharing rule.

A step samples a width vector, asks the rule for its paths and loss weights, and
back-propagates sum_i w_i * CE(f(x; path_i)) on the same batch (BCNet: 0.5 * (left +
right)). Options change what a step trains (StepPlanner): the sandwich rule trains the
max, the min and random widths on the same batch, each back-propagated in turn (the max
first, whose detached softmax is the soft target of the others under in-place
distillation), and `full_net_every` makes every Nth step train the full supernet. All
randomness of step t (data order, augmentation, widths) is derived from (seed, t), so
`--resume` continues bit-exactly and every torchrun rank samples the same widths. The
training compute in MACs is logged (width/steps.py) and `train.compute` may replace
epochs. Checkpoints are written atomically at every epoch end (and every N steps).
"""

from __future__ import annotations

import heapq
from contextlib import nullcontext
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from slimnas import distributed as D
from slimnas.config import check_config, differing_keys, parse_macs, with_defaults
from slimnas.data import Augment
from slimnas.errors import SlimnasError
from slimnas.io import atomic_write_json
from slimnas.runs import (
    RunInterrupted,
    TrainingRun,
    cosine_factor,
    generator,
    resolve_device,
    torch_threads,
)
from slimnas.width.context import build_context
from slimnas.width.evaluate import WidthScorer, candidate_losses
from slimnas.width.net import build_supernet, selections
from slimnas.width.sampler import StepPlanner
from slimnas.width.steps import StepCompute, plan_choices

FORMAT = "slimnas-supernet/1"


class PathsOut(NamedTuple):
    loss: torch.Tensor  # what is back-propagated
    label_loss: torch.Tensor  # sum_i w_i * CE on the labels, detached (for the records)
    probs: torch.Tensor | None  # sum_i w_i * softmax, detached (a distillation teacher)


class PathsLoss(nn.Module):
    """sum_i w_i * CE(net(x, path_i), y) over one width's paths, in one forward call (so DDP
    sees one graph per backward); with `teacher` the soft cross-entropy against it instead
    (in-place distillation, temperature 1)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x, y, paths, weights, teacher=None, want_probs: bool = False) -> PathsOut:
        if teacher is None and not want_probs:
            loss = sum(w * F.cross_entropy(self.net(x, p), y) for p, w in zip(paths, weights,
                                                                              strict=True))
            return PathsOut(loss, loss.detach(), None)
        logits = [self.net(x, p) for p in paths]
        label = sum(w * F.cross_entropy(z if teacher is None else z.detach(), y)
                    for z, w in zip(logits, weights, strict=True))
        loss = label if teacher is None else sum(
            w * soft_cross_entropy(z, teacher) for z, w in zip(logits, weights, strict=True))
        probs = sum(w * F.softmax(z.detach(), dim=1) for z, w in zip(logits, weights, strict=True)) \
            if want_probs else None
        return PathsOut(loss, label.detach(), probs)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean_n sum_k -target[n, k] * log_softmax(logits)[n, k] (AutoSlim's in-place
    distillation loss at temperature 1)."""
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


TrainingInterrupted = RunInterrupted  # raised at `interrupt_at_step` (tests simulate a crash)


def train_supernet(cfg: dict, resume: bool = False, interrupt_at_step: int | None = None) -> dict:
    """Train a supernet as `cfg` says; returns a summary dict. See DEFAULTS in config.py.

    A non-finite loss stops the run (NonFiniteLoss, a SlimnasError) before the step is
    applied; checkpoints are never written with non-finite weights, so the last good one is
    kept. Runs with `cfg["threads"]` torch threads (0: torch's default)."""
    check_config(cfg)
    with torch_threads(cfg["threads"]):
        return _train(cfg, resume, interrupt_at_step)


def _train(cfg: dict, resume: bool, interrupt_at_step: int | None) -> dict:
    t, seed = cfg["train"], cfg["seed"]
    info, device = D.init_from_env(resolve_device(cfg["device"]))
    run = TrainingRun(cfg["out"], FORMAT, "supernet", "supernet", resume=resume,
                      need_empty=False, is_main=info.is_main, progress=t["progress"],
                      tensorboard=t["tensorboard"], interrupt_at_step=interrupt_at_step,
                      barrier=lambda: D.barrier(info))
    ctx = build_context(cfg, device)
    space, rule, batch = ctx.space, ctx.rule, t["batch_size"]
    planner = StepPlanner(space, seed, cfg["complementary"], t["sandwich"],
                          t["sandwich_random"], t["full_net_every"], t["inplace_distill"])
    compute = StepCompute(space, rule, planner, batch)
    steps_per_epoch = _steps_per_epoch(t, len(ctx.train_x), info.world_size)
    budget_steps = None if t["compute"] is None else compute.steps_for(parse_macs(t["compute"]))
    total_steps = run.schedule(steps_per_epoch, t["epochs"], budget_steps)
    supernet, model, opt, sched = _build(cfg, space, total_steps, device, info.enabled)
    state = run.resume_state(device, lambda state: _check_compatible(state, cfg))
    records = _restore(state, supernet, opt, sched)  # max-heap of (-loss, widths)
    macs = compute.total(run.step)  # training compute so far (a function of the step)
    augment = Augment(cfg["data"]["pad"], cfg["data"]["flip"])
    chunks = _micro_chunks(batch, info, t["micro_batches"])
    hint = f"train.lr ({t['lr']} now)"
    run.begin(cfg)

    def save() -> None:
        run.save(supernet, {"config": cfg, "space": space.describe(), "rule": cfg["rule"],
                            "model": supernet.state_dict(), "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(),
                            "records": sorted((-nl, list(w)) for nl, w in records),
                            "compute_macs": macs,
                            "data_stats": {"mean": ctx.mean, "std": ctx.std}}, hint)
        if info.is_main:
            atomic_write_json(run.out / "records.json", sorted([-nl, list(w)] for nl, w in records))

    for epoch in run.epochs():
        perm = torch.randperm(len(ctx.train_x), generator=generator(seed, "epoch", epoch))
        perm = perm.to(device)
        supernet.train()
        for i in run.steps(epoch):
            idx, step = perm[i * batch:(i + 1) * batch], run.step
            xs = [augment(ctx.train_x[idx[lo:hi]], generator(seed, "aug", step, c))
                  for c, lo, hi in chunks]
            ys = [ctx.train_y[idx[lo:hi]] for _, lo, hi in chunks]
            plan = planner(step)
            units = plan_choices(space, rule, plan, seed, step)
            loss, _, width_losses = train_units(
                model, supernet, space, rule, units, xs, ys, distill=plan.distill,
                sync_last=info.enabled, reduce=lambda v: D.mean_vector(v, info, device))
            loss = D.mean_across(loss, info, device)  # every rank stops together
            run.check_loss(loss, hint)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if len(plan.widths) == 1:  # one width: its loss is the step's
                _keep_lowest(records, loss, plan.widths[0], t["records"])
            elif plan.recorded:
                means = D.mean_vector([width_losses[u] for u in plan.recorded], info, device)
                for u, value in zip(plan.recorded, means, strict=True):
                    _keep_lowest(records, value, plan.widths[u], t["records"])
            macs += compute.units_macs(units)
            run.advance(loss)
            if _mid_epoch_checkpoint(run.step, t["checkpoint_every_steps"], steps_per_epoch):
                save()
        row = {"lr": opt.param_groups[0]["lr"], "compute_macs": macs}
        if info.is_main and t["eval_every"] and (epoch + 1) % t["eval_every"] == 0:
            row.update(_score_extremes(supernet, ctx, cfg))
        run.end_epoch(row)
        save()
    run.close()
    D.shutdown(info)
    return {"out": str(run.out), "checkpoint": str(run.checkpoint), "steps": run.step,
            "history": run.history, "records": len(records), "compute_macs": macs}


def _restore(state: dict | None, supernet: nn.Module, opt, sched) -> list:
    """Load a resumed run's weights, optimiser and schedule; its lowest-loss records."""
    if state is None:
        return []
    supernet.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    records = [(-loss, tuple(w)) for loss, w in state["records"]]
    heapq.heapify(records)
    return records


def _mid_epoch_checkpoint(step: int, every: int, steps_per_epoch: int) -> bool:
    """train.checkpoint_every_steps; epoch ends always write one anyway."""
    return bool(every) and step % every == 0 and step % steps_per_epoch != 0


def _steps_per_epoch(t: dict, images: int, world: int) -> int:
    batch, micro = t["batch_size"], t["micro_batches"]
    if micro < 1 or batch % (world * micro):
        raise SlimnasError(
            f"batch_size {batch} must divide into {world} ranks x {micro} micro-batches"
        )
    if batch > images:
        raise SlimnasError(f"batch_size {batch} exceeds the {images} training images")
    return images // batch


def _micro_chunks(batch: int, info: D.DistInfo, micro: int) -> list[tuple[int, int, int]]:
    """This rank's micro-batches of a step's batch: (chunk number, start, end)."""
    size = batch // (info.world_size * micro)
    chunks = [info.rank * micro + m for m in range(micro)]
    return [(c, c * size, (c + 1) * size) for c in chunks]


def _build(cfg: dict, space, total_steps: int, device: torch.device, ddp: bool):
    """The supernet, its loss module (DDP-wrapped under torchrun), SGD and the cosine."""
    t = cfg["train"]
    torch.manual_seed(cfg["seed"])
    supernet = build_supernet(space).to(device)
    model: nn.Module = PathsLoss(supernet)
    if ddp:
        model = nn.parallel.DistributedDataParallel(model)
    decay = [p for p in supernet.parameters() if p.ndim > 1]
    no_decay = [p for p in supernet.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": t["weight_decay"]},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=t["lr"], momentum=t["momentum"], nesterov=t["nesterov"] and t["momentum"] > 0,
    )
    return supernet, model, opt, torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(total_steps))


def _score_extremes(supernet: nn.Module, ctx, cfg: dict) -> dict:
    """Held-out top-1 of the widest and the narrowest width (eval_every epochs)."""
    sc = cfg["score"]
    scorer = WidthScorer(supernet, ctx.space, ctx.rule, ctx.recal_x, ctx.held_x, ctx.held_y,
                         sc["recal_batches"], sc["batch_size"], recal_y=ctx.recal_y)
    return {"acc_max": scorer.score(ctx.space.max_widths()),
            "acc_min": scorer.score(ctx.space.min_widths())}


def train_step(model: nn.Module, supernet: nn.Module, space, rule, choices, xs, ys,
               sync_last: bool = False, reduce=None) -> tuple[float, int]:
    """One width's step (`choices`: the rule's candidate path sets for it); returns
    (loss, the candidate trained). See `train_units`."""
    loss, picks, _ = train_units(model, supernet, space, rule, [choices], xs, ys,
                                 sync_last=sync_last, reduce=reduce)
    return loss, picks[0]


def train_units(model: nn.Module, supernet: nn.Module, space, rule, units, xs, ys,
                distill: bool = False, sync_last: bool = False,
                reduce=None) -> tuple[float, list[int], list[float]]:
    """Back-propagate one step over micro-batches `xs`, `ys`; `units` holds, per trained
    width, the rule's candidate path sets. Returns (the step's loss, the candidate trained
    per width, each width's loss on the labels).

    With several candidate sets (min-min rules) only each width's lowest-loss one is
    back-propagated (ALGORITHMS.md 1.8); `reduce` averages the candidate losses across
    ranks first so every rank picks the same one. Widths are back-propagated one after
    the other (the graph of one width at a time is kept); with `distill` the first width's
    detached softmax is the soft target of the others. `model` wraps `supernet`
    (PathsLoss, maybe inside DDP; `sync_last`: only the last backward all-reduces).
    """
    picks = []
    for choices in units:
        pick = 0
        if len(choices) > 1:
            losses = candidate_losses(supernet, space, rule, choices, xs, ys)
            if reduce is not None:
                losses = reduce(losses)
            pick = min(range(len(losses)), key=losses.__getitem__)
        picks.append(pick)
    plan = [(choices[pick], [selections(space, p) for p in choices[pick]])
            for choices, pick in zip(units, picks, strict=True)]
    micro, step_loss = len(xs), 0.0
    width_losses = [0.0] * len(units)
    for m, (x, y) in enumerate(zip(xs, ys, strict=True)):
        teacher = None
        for u, (paths, sels) in enumerate(plan):
            last = m == micro - 1 and u == len(plan) - 1
            with (model.no_sync() if sync_last and not last else nullcontext()):
                out = model(x, y, sels, rule.loss_weights(paths), teacher=teacher,
                            want_probs=distill and u == 0)
                loss = out.loss / micro
                loss.backward()
            if distill and u == 0:
                teacher = out.probs
            step_loss += float(loss.detach())
            width_losses[u] += float(out.label_loss) / micro
    return step_loss, picks, width_losses


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
    old = with_defaults(state["config"])
    # search and retraining settings belong to `slimnas run`, which checks them itself
    diff = differing_keys(old, cfg, ignore=(*COSMETIC, "search", "retrain"))
    if diff:
        raise SlimnasError(f"--resume: the checkpoint was made with other settings: "
                           f"{', '.join(diff)}; rerun with its settings or choose another out")
