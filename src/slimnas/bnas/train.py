"""Training an evaluation network from a genotype, then exporting it.

SGD with momentum and a per-step cosine, gradient clipping, drop-path growing linearly to
`train.drop_path` over the epochs, the data's crop / flip augmentation and optional cutout.
Step t draws all its randomness from (seed, t) (drop-path through the global RNG, reseeded
each step), so `--resume` from the per-epoch checkpoint is bit-exact on the CPU. At the end
the network goes to `<train out>/model` (see bnas/export.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from slimnas.bnas.data import BnasData, load_train_data, top1
from slimnas.bnas.eval_net import EvalNetwork, EvalSpec
from slimnas.bnas.export import export_network
from slimnas.bnas.genotype import Genotype
from slimnas.data import Augment
from slimnas.errors import SlimnasError
from slimnas.io import atomic_write_json
from slimnas.runs import (
    RunInterrupted,
    TrainingRun,
    cosine_factor,
    derived_seed,
    generator,
    resolve_device,
    torch_threads,
)

FORMAT = "slimnas-bnas-train/1"
MODEL_DIR = "model"


TrainInterrupted = RunInterrupted  # raised at `interrupt_at_step` (tests simulate a crash)


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
    t, seed = cfg["train"], cfg["seed"]
    device = resolve_device(cfg["device"])
    run = TrainingRun(train_out(cfg), FORMAT, "cell network training", "train", resume=resume,
                      progress=t["progress"], tensorboard=t["tensorboard"],
                      interrupt_at_step=interrupt_at_step)
    data, test = load_train_data(cfg, device)
    batch = t["batch_size"]
    if batch > len(data.train):
        raise SlimnasError(f"train.batch_size {batch} exceeds the {len(data.train)} training "
                           "images")
    total_steps = run.schedule(len(data.train) // batch, t["epochs"])
    torch.manual_seed(seed)
    net = EvalNetwork(eval_spec(cfg, data), genotype).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=t["lr"], momentum=t["momentum"],
                          weight_decay=t["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(total_steps))
    state = run.resume_state(device, lambda state: _check_compatible(state, cfg, genotype))
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    augment = Augment(cfg["data"]["pad"], cfg["data"]["flip"])
    hint = f"train.lr ({t['lr']} now)"
    run.begin(cfg)
    atomic_write_json(run.out / "genotype.json", genotype.to_json())
    for epoch in run.epochs():
        net.drop_prob = t["drop_path"] * epoch / t["epochs"]
        perm = torch.randperm(len(data.train), generator=generator(seed, "train-epoch", epoch))
        perm = perm.to(device)
        net.train()
        for i in run.steps(epoch):
            idx, step = perm[i * batch:(i + 1) * batch], run.step
            x = augment(data.train.x[idx], generator(seed, "train-aug", step))
            x = cutout(x, t["cutout"], generator(seed, "cutout", step))
            torch.manual_seed(derived_seed(seed, "drop-path", step))
            loss = F.cross_entropy(net(x), data.train.y[idx])
            run.check_loss(float(loss.detach()), hint)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(net.parameters(), t["grad_clip"])
            opt.step()
            sched.step()
            run.advance(float(loss.detach()))
        run.end_epoch({"lr": opt.param_groups[0]["lr"], "drop_path": net.drop_prob,
                       "held_out_top1": top1(net, data.held)})
        run.save(net, {"config": cfg, "genotype": genotype.to_json(), "spec": net.describe(),
                       "model": net.state_dict(), "optimizer": opt.state_dict(),
                       "scheduler": sched.state_dict(),
                       "data_stats": {"mean": data.mean, "std": data.std}}, hint)
    run.close()
    return _finish(net, cfg, run, data, test)


def _finish(net: EvalNetwork, cfg: dict, run: TrainingRun, data: BnasData, test) -> dict:
    """Test top-1, the exported network (`<out>/model`) and result.json."""
    test_top1, history = top1(net, test), run.history
    summary = {"out": str(run.out), "steps": run.step, "history": history,
               "held_out_top1": history[-1]["held_out_top1"] if history else None,
               "test_top1": test_top1, "params": sum(p.numel() for p in net.parameters())}
    extra = {"test_top1": test_top1, "held_out_top1": summary["held_out_top1"],
             "data_stats": {"mean": data.mean, "std": data.std}, "seed": cfg["seed"]}
    summary["model"] = str(export_network(net, run.out / MODEL_DIR, data.input_size, extra,
                                          onnx=cfg["train"]["onnx"]))
    atomic_write_json(run.out / "result.json",
                      {k: v for k, v in summary.items() if k != "history"})
    return summary


def _check_compatible(state: dict, cfg: dict, genotype: Genotype) -> None:
    old = state["config"]
    if (state["genotype"] != genotype.to_json() or _fixed(old["train"]) != _fixed(cfg["train"])
            or old["data"] != cfg["data"] or old["seed"] != cfg["seed"]):
        raise SlimnasError("--resume: the genotype or config differs from the checkpoint's")


def _fixed(train_cfg: dict) -> dict:
    """The train keys a resumed run must share with the checkpoint's."""
    return {k: v for k, v in train_cfg.items() if k not in ("progress", "tensorboard", "onnx")}
