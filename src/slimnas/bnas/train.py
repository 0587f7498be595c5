"""Training an evaluation network from a genotype, then exporting it.

SGD with momentum and a per-step cosine, gradient clipping, drop-path growing linearly to
`train.drop_path` over the epochs, the data's crop / flip augmentation and optional cutout.
Step t draws all its randomness from (seed, t) (drop-path through the global RNG, reseeded
each step), so `--resume` from the per-epoch checkpoint is bit-exact on the CPU. At the end
the network goes to `<train out>/model` (see bnas/export.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from slimnas.bnas.data import BnasData, load_train_data, top1
from slimnas.bnas.eval_net import EvalNetwork, EvalSpec
from slimnas.bnas.export import export_network
from slimnas.bnas.genotype import Genotype
from slimnas.config import dump_config
from slimnas.data import Augment
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
from slimnas.runs import CHECKPOINT, check_out, derived_seed, generator, resolve_device

FORMAT = "slimnas-bnas-train/1"
MODEL_DIR = "model"


class TrainInterrupted(Exception):
    """Raised by `interrupt_at_step` (tests simulate a crash without a checkpoint)."""


def train_out(cfg: dict) -> Path:
    """Where `bnas train` writes: train.out, or `<out>/train` beside the search's files."""
    return Path(cfg["train"].get("out") or Path(cfg["out"]) / "train")


def eval_spec(cfg: dict, data: BnasData) -> EvalSpec:
    t = cfg["train"]
    return EvalSpec(net=t["net"], in_channels=data.in_channels, num_classes=data.num_classes,
                    channels=t["channels"], cells=t["cells"],
                    reduction_at=tuple(t["reduction_at"] or ()),
                    enhancement_cells=t["enhancement_cells"])


def cutout(x: torch.Tensor, length: int, gen: torch.Generator) -> torch.Tensor:
    """Zero one `length` x `length` square per image, centred uniformly (clipped at borders)."""
    if length <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=gen).to(x.device)
    cx = torch.randint(0, w, (b,), generator=gen).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] - (cy - length // 2)[:, None]
    cols = torch.arange(w, device=x.device)[None, :] - (cx - length // 2)[:, None]
    inside = ((rows >= 0) & (rows < length))[:, :, None] & ((cols >= 0) & (cols < length))[:, None]
    return x * (~inside)[:, None].to(x.dtype)


def train_genotype(cfg: dict, genotype: Genotype, resume: bool = False,
                   interrupt_at_step: int | None = None) -> dict:
    """Train the evaluation network of `genotype` as `cfg["train"]` says, then export it."""
    with torch_threads(cfg["threads"]):
        return _train(cfg, genotype, resume, interrupt_at_step)


def _train(cfg: dict, genotype: Genotype, resume: bool, interrupt_at_step: int | None) -> dict:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SlimnasError("bnas train runs in one process; launch it without torchrun")
    t = cfg["train"]
    device = resolve_device(cfg["device"])
    out = train_out(cfg)
    check_out(out, resume)
    data, test = load_train_data(cfg, device)
    batch = t["batch_size"]
    steps_per_epoch = len(data.train) // batch
    if steps_per_epoch < 1:
        raise SlimnasError(f"train.batch_size {batch} exceeds the {len(data.train)} training "
                           "images")
    total_steps = steps_per_epoch * t["epochs"]
    seed = cfg["seed"]
    torch.manual_seed(seed)
    net = EvalNetwork(eval_spec(cfg, data), genotype).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=t["lr"], momentum=t["momentum"],
                          weight_decay=t["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(total_steps))
    step, history = 0, []
    if resume:
        state = load_checkpoint(out / CHECKPOINT, map_location=device)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise SlimnasError("the checkpoint is not a slimnas bnas training checkpoint")
        old = state["config"]
        if (state["genotype"] != genotype.to_json() or _fixed(old["train"]) != _fixed(t)
                or old["data"] != cfg["data"] or old["seed"] != seed):
            raise SlimnasError("--resume: the genotype or config differs from the checkpoint's")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, history = state["global_step"], list(state["history"])

    augment = Augment(cfg["data"]["pad"], cfg["data"]["flip"])
    writer = tensorboard(out, t["tensorboard"])
    start = time.time() - (history[-1]["seconds"] if history else 0.0)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "config.yaml", dump_config(cfg).encode())
    atomic_write_json(out / "genotype.json", genotype.to_json())
    from tqdm import tqdm

    for epoch in range(step // steps_per_epoch, t["epochs"]):
        net.drop_prob = t["drop_path"] * epoch / t["epochs"]
        perm = torch.randperm(len(data.train), generator=generator(seed, "train-epoch", epoch))
        perm = perm.to(device)
        bar = tqdm(total=steps_per_epoch, initial=step % steps_per_epoch, leave=False,
                   desc=f"train {epoch + 1}/{t['epochs']}", disable=not t["progress"])
        loss_sum, n = 0.0, 0
        net.train()
        while step < (epoch + 1) * steps_per_epoch:
            if interrupt_at_step is not None and step == interrupt_at_step:
                raise TrainInterrupted(step)
            i = step % steps_per_epoch
            idx = perm[i * batch:(i + 1) * batch]
            x = augment(data.train.x[idx], generator(seed, "train-aug", step))
            x = cutout(x, t["cutout"], generator(seed, "cutout", step))
            torch.manual_seed(derived_seed(seed, "drop-path", step))
            loss = F.cross_entropy(net(x), data.train.y[idx])
            check_finite_loss(float(loss.detach()), step, steps_per_epoch, "cell network "
                              "training", f"train.lr ({t['lr']} now)", out / CHECKPOINT)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(net.parameters(), t["grad_clip"])
            opt.step()
            sched.step()
            loss_sum, n = loss_sum + float(loss.detach()), n + 1
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        bar.close()
        row = {"epoch": epoch + 1, "step": step, "train_loss": loss_sum / max(1, n),
               "lr": opt.param_groups[0]["lr"], "drop_path": net.drop_prob,
               "held_out_top1": top1(net, data.held), "seconds": round(time.time() - start, 2)}
        history.append(row)
        log_scalars(writer, "train", row, step)
        atomic_write_bytes(out / "log.csv", csv_bytes(history))
        check_finite_weights(net, "cell network training", f"after step {step}",
                             f"train.lr ({t['lr']} now)", out / CHECKPOINT)
        atomic_torch_save({"format": FORMAT, "config": cfg, "genotype": genotype.to_json(),
                           "spec": net.describe(), "model": net.state_dict(),
                           "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                           "global_step": step, "history": history,
                           "data_stats": {"mean": data.mean, "std": data.std}},
                          out / CHECKPOINT)
    if writer is not None:
        writer.close()
    test_top1 = top1(net, test)
    summary = {"out": str(out), "steps": step, "history": history,
               "held_out_top1": history[-1]["held_out_top1"] if history else None,
               "test_top1": test_top1, "params": sum(p.numel() for p in net.parameters())}
    extra = {"test_top1": test_top1, "held_out_top1": summary["held_out_top1"],
             "data_stats": {"mean": data.mean, "std": data.std}, "seed": seed}
    summary["model"] = str(export_network(net, out / MODEL_DIR, data.input_size, extra,
                                          onnx=t["onnx"]))
    atomic_write_json(out / "result.json", {k: v for k, v in summary.items() if k != "history"})
    return summary


def _fixed(train_cfg: dict) -> dict:
    """The train keys a resumed run must share with the checkpoint's."""
    return {k: v for k, v in train_cfg.items() if k not in ("progress", "tensorboard", "onnx")}
