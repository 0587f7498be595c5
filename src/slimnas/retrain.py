"""Retraining an exported (plain) network from its inherited weights.

One recipe for every network the main job compares (the searched winner and the uniform
baseline): SGD with Nesterov momentum, per-step cosine, the supernet's augmentation, every
random choice derived from (seed, step) as in supernet training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slimnas.data import Augment
from slimnas.runs import check_finite_loss, check_finite_weights, cosine_factor, generator
from slimnas.width.evaluate import accuracy


def retrain(net: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, held_x: torch.Tensor,
            held_y: torch.Tensor, epochs: int, batch_size: int = 64, lr: float = 0.05,
            momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
            augment: Augment | None = None, progress: bool = False,
            eval_each_epoch: bool = True, measure_before: bool = True,
            label: str = "retrain", lr_name: str = "retrain.lr",
            channels_last: bool = False) -> dict:
    """Train `net` in place; returns {"held_out_top1_before", "held_out_top1", "history"}.

    `eval_each_epoch=False` evaluates after the last epoch only; `measure_before=False`
    skips the accuracy before training ("held_out_top1_before" is then None). A non-finite
    loss stops training with NonFiniteLoss (one line naming `label` and `lr_name`) before
    the step is applied. `label` also names the progress bar.

    `channels_last=True` trains in the channels-last memory format (the net is converted in
    place, and each batch): the same arithmetic in another summation order, so its numbers
    differ from the default's in the last bits, and are again exact run to run on one machine
    and thread count. On CPU it trains the narrow MobileNets of the benchmarks about 1.6x
    faster (`benchmarks/channels_last.py`).
    """
    from tqdm import tqdm

    augment = augment or Augment()
    if channels_last:
        net.to(memory_format=torch.channels_last)
    before = accuracy(net, None, held_x, held_y) if measure_before else None
    steps_per_epoch = max(1, len(train_x) // batch_size)
    total = steps_per_epoch * epochs
    decay = [p for p in net.parameters() if p.ndim > 1]
    rest = [p for p in net.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                           {"params": rest, "weight_decay": 0.0}],
                          lr=lr, momentum=momentum, nesterov=momentum > 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(total))
    history = []
    bar = tqdm(total=total, desc=label, leave=False, disable=not progress)
    for epoch in range(epochs):
        perm = torch.randperm(len(train_x), generator=generator(seed, "retrain-epoch", epoch))
        perm = perm.to(train_x.device)
        net.train()
        total_loss = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            step = epoch * steps_per_epoch + i
            x = augment(train_x[idx], generator(seed, "retrain-aug", step))
            x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
            loss = F.cross_entropy(net(x), train_y[idx])
            value = float(loss.detach())
            check_finite_loss(value, step, steps_per_epoch, label, f"{lr_name} ({lr} now)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += value
            bar.update(1)
        check_finite_weights(net, label, f"after epoch {epoch + 1}", f"{lr_name} ({lr} now)")
        row = {"epoch": epoch + 1, "train_loss": total_loss / steps_per_epoch}
        if eval_each_epoch or epoch == epochs - 1:
            row["held_out_top1"] = accuracy(net, None, held_x, held_y)
        history.append(row)
    bar.close()
    net.eval()
    final = history[-1]["held_out_top1"] if history else before
    return {"held_out_top1_before": before, "held_out_top1": final, "history": history}
