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

import torch
import torch.nn.functional as F

from slimnas import distributed as D
from slimnas.bnas.data import BnasData, load_search_data, top1
from slimnas.bnas.genotype import write_genotype
from slimnas.bnas.search_net import SearchNetwork, SearchSpec
from slimnas.data import Augment
from slimnas.distributed import average_gradients
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

FORMAT = "slimnas-bnas-search/1"
_SAME_ON_RESUME = ("seed", "variant", "data")


SearchInterrupted = RunInterrupted  # raised at `interrupt_at_step` (tests simulate a crash)


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
                      enhancement_cells=s["enhancement_cells"], layout=s["layout"],
                      cells=s["cells"],
                      partial_channels=s["partial_channels"], edge_norm=s["edge_norm"])


def run_search(cfg: dict, resume: bool = False, interrupt_at_step: int | None = None) -> dict:
    """Search as `cfg` says (see bnas/config.py); returns a summary dict."""
    with torch_threads(cfg["threads"]):
        return _search(cfg, resume, interrupt_at_step)


def _search(cfg: dict, resume: bool, interrupt_at_step: int | None) -> dict:
    s, seed = cfg["search"], cfg["seed"]
    info, device = D.init_from_env(resolve_device(cfg["device"]))
    run = TrainingRun(cfg["out"], FORMAT, "cell search", "search", resume=resume,
                      is_main=info.is_main, progress=s["progress"], tensorboard=s["tensorboard"],
                      interrupt_at_step=interrupt_at_step, barrier=lambda: D.barrier(info))
    D.barrier(info)  # every rank has checked before rank 0 writes anything
    data = load_search_data(cfg, device)
    batch, chunk = s["batch_size"], _rank_chunk(s, data, info)
    total_steps = run.schedule(_steps_per_epoch(s, data), s["epochs"])
    net, w_opt, a_opt, sched = _build(cfg, data, total_steps, device)
    state = run.resume_state(device, lambda state: _check_compatible(state, cfg))
    alpha_history = _restore(state, net, w_opt, a_opt, sched)
    augment = Augment(cfg["data"]["pad"], cfg["data"]["flip"])
    run.begin(cfg)

    def batch_of(split, perm, i: int, name: str):
        idx = perm[i * batch + info.rank * chunk:i * batch + (info.rank + 1) * chunk]
        return augment(split.x[idx], generator(seed, f"aug-{name}", run.step, info.rank)), \
            split.y[idx]

    for epoch in run.epochs():
        lr_arch, hint = _arch_lr_for_epoch(a_opt, s, epoch)
        perm_w = torch.randperm(len(data.train), generator=generator(seed, "w-epoch", epoch))
        perm_a = torch.randperm(len(data.arch), generator=generator(seed, "a-epoch", epoch))
        perm_w, perm_a = perm_w.to(device), perm_a.to(device)
        arch_losses: list[float] = []
        net.train()
        for i in run.steps(epoch):
            arch_batch = batch_of(data.arch, perm_a, i, "a") if lr_arch > 0.0 else None
            loss_a, loss_w = search_step(net, arch_batch, batch_of(data.train, perm_w, i, "w"),
                                         a_opt, w_opt, s["grad_clip"], info)
            sched.step()
            if loss_a is not None:
                arch_losses.append(D.mean_across(loss_a, info, device))
                run.check_loss(arch_losses[-1], hint, "cell search (architecture step)")
            loss_w = D.mean_across(loss_w, info, device)
            run.check_loss(loss_w, hint, "cell search (weight step)")
            run.advance(loss_w)
        genotype = net.genotype()
        row = {"arch_loss": sum(arch_losses) / len(arch_losses) if arch_losses else None,
               "lr": w_opt.param_groups[0]["lr"], "arch_lr": lr_arch,
               "parameter_free_share": genotype.parameter_free_share()}
        if info.is_main and s["eval_every"] and (epoch + 1) % s["eval_every"] == 0:
            row["held_out_top1"] = top1(net, data.held)
            net.train()
        run.end_epoch(row)
        alpha_history.append(_alpha_row(net, epoch, lr_arch, genotype))
        if info.is_main:
            atomic_write_json(run.out / "alphas.json", alpha_history)
        run.save(net, {"config": cfg, "spec": net.describe(), "model": net.state_dict(),
                       "weight_optimizer": w_opt.state_dict(),
                       "arch_optimizer": a_opt.state_dict(), "scheduler": sched.state_dict(),
                       "alpha_history": alpha_history,
                       "data_stats": {"mean": data.mean, "std": data.std}},
                 f"search.lr ({s['lr']} now) or search.arch_lr ({s['arch_lr']} now)",
                 f" (epoch {epoch + 1})")
    run.close()
    summary = _finish(net, cfg, run, info)
    D.barrier(info)
    D.shutdown(info)
    return summary


def _restore(state: dict | None, net: SearchNetwork, w_opt, a_opt, sched) -> list[dict]:
    """Load a resumed search's network, optimisers and schedule; its alpha history."""
    if state is None:
        return []
    net.load_state_dict(state["model"])
    w_opt.load_state_dict(state["weight_optimizer"])
    a_opt.load_state_dict(state["arch_optimizer"])
    sched.load_state_dict(state["scheduler"])
    return list(state["alpha_history"])


def _arch_lr_for_epoch(a_opt: torch.optim.Optimizer, s: dict, epoch: int) -> tuple[float, str]:
    """Set the epoch's architecture learning rate; (it, the divergence hint naming it)."""
    lr_arch = arch_lr_at(s, epoch)
    for group in a_opt.param_groups:
        group["lr"] = lr_arch
    # weights and alphas feed each other: either learning rate can make either loss diverge
    return lr_arch, f"search.lr ({s['lr']} now)" + (f" or search.arch_lr ({lr_arch} now)"
                                                    if lr_arch > 0 else "")


def _steps_per_epoch(s: dict, data: BnasData) -> int:
    steps = min(len(data.train), len(data.arch)) // s["batch_size"]
    if s["max_steps_per_epoch"]:
        steps = min(steps, s["max_steps_per_epoch"])
    if steps < 1:
        raise SlimnasError(f"search.batch_size {s['batch_size']} exceeds the {len(data.arch)} "
                           "images of each search half")
    return steps


def _rank_chunk(s: dict, data: BnasData, info: D.DistInfo) -> int:
    """Each torchrun rank's share of a step's batch."""
    if s["batch_size"] % info.world_size:
        raise SlimnasError(f"search.batch_size {s['batch_size']} must divide into "
                           f"{info.world_size} ranks")
    return s["batch_size"] // info.world_size


def _build(cfg: dict, data: BnasData, total_steps: int, device: torch.device):
    """The search network, SGD + cosine on its weights and Adam on its alphas and betas."""
    s = cfg["search"]
    torch.manual_seed(cfg["seed"])
    try:
        net = SearchNetwork(search_spec(cfg, data)).to(device)
    except ValueError as e:
        raise SlimnasError(f"cannot build the {s['net']} search network: {e}") from None
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=s["lr"], momentum=s["momentum"],
                            weight_decay=s["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        w_opt, cosine_factor(total_steps, s["lr_min"] / s["lr"] if s["lr"] else 0.0))
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=s["arch_lr"],
                             betas=tuple(s["arch_betas"]), weight_decay=s["arch_weight_decay"])
    return net, w_opt, a_opt, sched


def _alpha_row(net: SearchNetwork, epoch: int, lr_arch: float, genotype) -> dict:
    return {"epoch": epoch + 1, "arch_lr": lr_arch, **net.arch_state(),
            "logits": {k: v.detach().cpu().tolist() for k, v in net.named_parameters()
                       if k.startswith(("alphas.", "betas."))},
            "genotype": genotype.to_json()}


def _finish(net: SearchNetwork, cfg: dict, run: TrainingRun, info: D.DistInfo) -> dict:
    """The summary; on the main process also genotype.json, its plots and search.json."""
    genotype, history = net.genotype(), run.history
    summary = {"out": str(run.out), "variant": cfg["variant"], "spec": net.describe(),
               "steps": run.step, "genotype": genotype.to_json(),
               "parameter_free_share": genotype.parameter_free_share(),
               "held_out_top1": next((r["held_out_top1"] for r in reversed(history)
                                      if "held_out_top1" in r), None),
               "seconds": history[-1]["seconds"] if history else 0.0}
    if info.is_main:
        write_genotype(genotype, run.out / "genotype.json")
        from slimnas.bnas.plot import plot_genotype

        summary["plots"] = [str(p) for p in plot_genotype(genotype, run.out, net.spec.net)]
        atomic_write_json(run.out / "search.json", summary)
    return summary


def _check_compatible(state: dict, cfg: dict) -> None:
    old = state["config"]
    for key in _SAME_ON_RESUME:
        if old[key] != cfg[key]:
            raise SlimnasError(f"--resume: config {key!r} differs from the checkpoint's")
    # a checkpoint from before search.layout existed was searched with the compact layout
    old_search = {"layout": "compact", **old["search"]}
    for key, value in old_search.items():
        if key not in ("progress", "tensorboard", "eval_every") and cfg["search"][key] != value:
            raise SlimnasError(f"--resume: search.{key} differs from the checkpoint's")
