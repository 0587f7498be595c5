"""Differentiable cell search (BNAS-D, BNAS-v2-CLR, BNAS-v2-PC, DARTS, DARTS-CLR).

First-order bi-level optimisation, one step = an architecture step on a batch of the
alphas' half (Adam on alphas and betas) then a weight step on a batch of the weights' half
(SGD with momentum, per-step cosine, gradient clipping). CLR scales the Adam learning rate
by ((epoch + 1) / epochs) ** 2 at each epoch start; `arch_warmup` skips the architecture
step during the first epochs. All randomness of step t comes from (seed, t) (and the epoch's
data order from (seed, epoch)), so `--resume` from the per-epoch checkpoint is bit-exact on
the CPU. Under torchrun every rank takes its slice of both batches and the gradients of
weights and alphas are averaged over the ranks.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from slimnas import distributed as D
from slimnas.bnas.data import BnasData, load_search_data, top1
from slimnas.bnas.genotype import write_genotype
from slimnas.bnas.search_net import SearchNetwork, SearchSpec
from slimnas.config import dump_config
from slimnas.data import Augment
from slimnas.distributed import average_gradients
from slimnas.errors import SlimnasError
from slimnas.io import atomic_torch_save, atomic_write_bytes, atomic_write_json, load_checkpoint
from slimnas.runlog import (
    check_finite_loss,
    check_finite_weights,
    cosine_factor,
    csv_bytes,
    log_scalars,
    tensorboard,
    torch_threads,
)
from slimnas.runs import CHECKPOINT, check_out, generator, resolve_device

FORMAT = "slimnas-bnas-search/1"
_SAME_ON_RESUME = ("seed", "variant", "data")


class SearchInterrupted(Exception):
    """Raised by `interrupt_at_step` (tests simulate a crash without a checkpoint)."""


def clr_scale(epoch: int, epochs: int) -> float:
    """Confident learning rate: ((epoch + 1) / E) ** 2, epoch counted from 0."""
    return ((epoch + 1) / epochs) ** 2


def arch_lr_at(search_cfg: dict, epoch: int) -> float:
    """The architecture learning rate of `epoch` (0 during the warm-up epochs)."""
    s = search_cfg
    if epoch < s["arch_warmup"]:
        return 0.0
    return s["arch_lr"] * (clr_scale(epoch, s["epochs"]) if s["clr"] else 1.0)


def search_step(net: SearchNetwork, arch_batch: tuple | None, weight_batch: tuple,
                a_opt: torch.optim.Optimizer, w_opt: torch.optim.Optimizer, grad_clip: float,
                info: D.DistInfo | None = None) -> tuple[float | None, float]:
    """One first-order bi-level step: alphas (and betas) on `arch_batch` (skipped if None),
    then the weights on `weight_batch`. Returns this rank's (arch loss, weight loss)."""
    info = info or D.DistInfo()
    arch, weights = net.arch_parameters(), net.weight_parameters()
    loss_a = None
    if arch_batch is not None:
        x, y = arch_batch
        loss = F.cross_entropy(net(x), y)
        for p, g in zip(arch, torch.autograd.grad(loss, arch), strict=True):
            p.grad = g  # the weights' gradients are never formed in the arch step
        loss_a = float(loss.detach())
        del loss  # frees the graph's unvisited part (no path to an alpha) before the next one
        average_gradients(arch, info)
        a_opt.step()
        a_opt.zero_grad(set_to_none=True)
    x, y = weight_batch
    loss = F.cross_entropy(net(x), y)
    loss.backward(inputs=weights)
    average_gradients(weights, info)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(weights, grad_clip)
    w_opt.step()
    w_opt.zero_grad(set_to_none=True)
    return loss_a, float(loss.detach())


def search_spec(cfg: dict, data: BnasData) -> SearchSpec:
    s = cfg["search"]
    return SearchSpec(net=s["net"], in_channels=data.in_channels, num_classes=data.num_classes,
                      channels=s["channels"], nodes=s["nodes"], blocks=s["blocks"],
                      enhancement_cells=s["enhancement_cells"], cells=s["cells"],
                      partial_channels=s["partial_channels"], edge_norm=s["edge_norm"])


def run_search(cfg: dict, resume: bool = False, interrupt_at_step: int | None = None) -> dict:
    """Search as `cfg` says (see bnas/config.py); returns a summary dict."""
    with torch_threads(cfg["threads"]):
        return _search(cfg, resume, interrupt_at_step)


def _search(cfg: dict, resume: bool, interrupt_at_step: int | None) -> dict:
    s = cfg["search"]
    info, device = D.init_from_env(resolve_device(cfg["device"]))
    out = Path(cfg["out"])
    check_out(out, resume, probe=info.is_main)
    D.barrier(info)  # every rank has checked before rank 0 writes anything
    data = load_search_data(cfg, device)
    world, batch = info.world_size, s["batch_size"]
    if batch % world:
        raise SlimnasError(f"search.batch_size {batch} must divide into {world} ranks")
    steps_per_epoch = min(len(data.train), len(data.arch)) // batch
    if s["max_steps_per_epoch"]:
        steps_per_epoch = min(steps_per_epoch, s["max_steps_per_epoch"])
    if steps_per_epoch < 1:
        raise SlimnasError(f"search.batch_size {batch} exceeds the {len(data.arch)} images of "
                           "each search half")
    total_steps = steps_per_epoch * s["epochs"]

    torch.manual_seed(cfg["seed"])
    try:
        net = SearchNetwork(search_spec(cfg, data)).to(device)
    except ValueError as e:
        raise SlimnasError(f"cannot build the {s['net']} search network: {e}") from None
    weights, arch = net.weight_parameters(), net.arch_parameters()
    w_opt = torch.optim.SGD(weights, lr=s["lr"], momentum=s["momentum"],
                            weight_decay=s["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        w_opt, cosine_factor(total_steps, s["lr_min"] / s["lr"] if s["lr"] else 0.0))
    a_opt = torch.optim.Adam(arch, lr=s["arch_lr"], betas=tuple(s["arch_betas"]),
                             weight_decay=s["arch_weight_decay"])
    step, history, alpha_history = 0, [], []
    if resume:
        state = load_checkpoint(out / CHECKPOINT, map_location=device)
        _check_compatible(state, cfg)
        net.load_state_dict(state["model"])
        w_opt.load_state_dict(state["weight_optimizer"])
        a_opt.load_state_dict(state["arch_optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, history = state["global_step"], list(state["history"])
        alpha_history = list(state["alpha_history"])

    augment = Augment(cfg["data"]["pad"], cfg["data"]["flip"])
    writer = tensorboard(out, s["tensorboard"] and info.is_main)
    chunk = batch // world
    seed = cfg["seed"]
    start = time.time() - (history[-1]["seconds"] if history else 0.0)

    def save(epoch: int) -> None:
        check_finite_weights(net, "cell search", f"after step {step} (epoch {epoch})",
                             f"search.lr ({s['lr']} now) or search.arch_lr ({s['arch_lr']} now)",
                             out / CHECKPOINT)  # never replace the last good checkpoint
        if info.is_main:
            atomic_torch_save({
                "format": FORMAT, "config": cfg, "spec": net.describe(),
                "model": net.state_dict(), "weight_optimizer": w_opt.state_dict(),
                "arch_optimizer": a_opt.state_dict(), "scheduler": sched.state_dict(),
                "global_step": step, "epoch": epoch, "history": history,
                "alpha_history": alpha_history,
                "data_stats": {"mean": data.mean, "std": data.std},
            }, out / CHECKPOINT)
        D.barrier(info)

    def batch_of(split, perm, i: int, name: str):
        idx = perm[i * batch + info.rank * chunk:i * batch + (info.rank + 1) * chunk]
        x = augment(split.x[idx], generator(seed, f"aug-{name}", step, info.rank))
        return x, split.y[idx]

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "config.yaml", dump_config(cfg).encode())
    from tqdm import tqdm

    for epoch in range(step // steps_per_epoch, s["epochs"]):
        lr_arch = arch_lr_at(s, epoch)
        for group in a_opt.param_groups:
            group["lr"] = lr_arch
        perm_w = torch.randperm(len(data.train), generator=generator(seed, "w-epoch", epoch))
        perm_a = torch.randperm(len(data.arch), generator=generator(seed, "a-epoch", epoch))
        perm_w, perm_a = perm_w.to(device), perm_a.to(device)
        bar = tqdm(total=steps_per_epoch, initial=step % steps_per_epoch, leave=False,
                   desc=f"search {epoch + 1}/{s['epochs']}",
                   disable=not (s["progress"] and info.is_main))
        sums = {"loss_w": 0.0, "loss_a": 0.0}
        # weights and alphas feed each other: either learning rate can make either loss diverge
        hint = f"search.lr ({s['lr']} now)" + (f" or search.arch_lr ({lr_arch} now)"
                                               if lr_arch > 0 else "")
        n_steps = n_arch = 0
        net.train()
        while step < (epoch + 1) * steps_per_epoch:
            if interrupt_at_step is not None and step == interrupt_at_step:
                raise SearchInterrupted(step)
            i = step % steps_per_epoch
            arch_batch = batch_of(data.arch, perm_a, i, "a") if lr_arch > 0.0 else None
            loss_a, loss_w = search_step(net, arch_batch, batch_of(data.train, perm_w, i, "w"),
                                         a_opt, w_opt, s["grad_clip"], info)
            sched.step()
            if loss_a is not None:
                loss_a = D.mean_across(loss_a, info, device)
                check_finite_loss(loss_a, step, steps_per_epoch, "cell search (architecture "
                                  "step)", hint, out / CHECKPOINT)
                sums["loss_a"] += loss_a
                n_arch += 1
            loss_w = D.mean_across(loss_w, info, device)
            check_finite_loss(loss_w, step, steps_per_epoch, "cell search (weight step)", hint,
                              out / CHECKPOINT)
            sums["loss_w"] += loss_w
            n_steps += 1
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_w:.3f}")
        bar.close()
        genotype = net.genotype()
        row = {"epoch": epoch + 1, "step": step,
               "train_loss": sums["loss_w"] / max(1, n_steps),
               "arch_loss": sums["loss_a"] / n_arch if n_arch else None,
               "lr": w_opt.param_groups[0]["lr"], "arch_lr": lr_arch,
               "parameter_free_share": genotype.parameter_free_share()}
        if info.is_main and s["eval_every"] and (epoch + 1) % s["eval_every"] == 0:
            row["held_out_top1"] = top1(net, data.held)
            net.train()
        row["seconds"] = round(time.time() - start, 2)
        history.append(row)
        alpha_history.append({"epoch": epoch + 1, "arch_lr": lr_arch, **net.arch_state(),
                              "logits": {k: v.detach().cpu().tolist()
                                         for k, v in net.named_parameters()
                                         if k.startswith(("alphas.", "betas."))},
                              "genotype": genotype.to_json()})
        log_scalars(writer, "search", row, step)
        if info.is_main:
            atomic_write_bytes(out / "log.csv", csv_bytes(history))
            atomic_write_json(out / "alphas.json", alpha_history)
        save(epoch + 1)
    if writer is not None:
        writer.close()
    genotype = net.genotype()
    summary = {"out": str(out), "variant": cfg["variant"], "spec": net.describe(),
               "steps": step, "genotype": genotype.to_json(),
               "parameter_free_share": genotype.parameter_free_share(),
               "held_out_top1": next((r["held_out_top1"] for r in reversed(history)
                                      if "held_out_top1" in r), None),
               "seconds": history[-1]["seconds"] if history else 0.0}
    if info.is_main:
        write_genotype(genotype, out / "genotype.json")
        from slimnas.bnas.plot import plot_genotype

        summary["plots"] = [str(p) for p in plot_genotype(genotype, out, net.spec.net)]
        atomic_write_json(out / "search.json", summary)
    D.barrier(info)
    D.shutdown(info)
    return summary


def _check_compatible(state: dict, cfg: dict) -> None:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SlimnasError("the checkpoint is not a slimnas bnas search checkpoint")
    old = state["config"]
    for key in _SAME_ON_RESUME:
        if old[key] != cfg[key]:
            raise SlimnasError(f"--resume: config {key!r} differs from the checkpoint's")
    for key, value in old["search"].items():
        if key not in ("progress", "tensorboard", "eval_every") and cfg["search"][key] != value:
            raise SlimnasError(f"--resume: search.{key} differs from the checkpoint's")
