"""Scoring a width in a supernet: BN recalibration, then top-1 on held-out data (1.7)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import torch

from slimnas.width.net import Path, WidthNet, selections
from slimnas.width.space import WidthSpace


@contextmanager
def preserved_bn(net: WidthNet):
    """Restore every BN buffer (and momentum) afterwards: scoring must not alter training."""
    bns = net.bn_modules()
    saved = [(bn.momentum, {k: v.clone() for k, v in bn.named_buffers()}) for bn in bns]
    was_training = net.training
    try:
        yield
    finally:
        for bn, (momentum, bufs) in zip(bns, saved, strict=True):
            bn.momentum = momentum
            for k, v in bufs.items():
                getattr(bn, k).copy_(v)
        net.train(was_training)


@torch.no_grad()
def recalibrate_bn(net: WidthNet, path: Path | None, batches: Iterable[torch.Tensor]) -> None:
    """Reset BN statistics and re-estimate them for one path as a cumulative average."""
    bns = net.bn_modules()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    net.train()
    for x in batches:
        net(x, path)
    net.eval()


@torch.no_grad()
def accuracy(net: WidthNet, path: Path | None, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 256) -> float:
    """Top-1 accuracy in percent, eval mode."""
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = net(x[i:i + batch_size], path)
        correct += int((logits.argmax(1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / max(1, len(x))


class WidthScorer:
    """Scores width vectors of one supernet: each path recalibrated, then evaluated.

    `recal_x`: the fixed training inputs used for recalibration (already on device).
    A width's score is the mean over its rule's paths (left/right for BCNet rules).
    """

    def __init__(self, supernet: WidthNet, space: WidthSpace, rule, recal_x: torch.Tensor,
                 held_x: torch.Tensor, held_y: torch.Tensor, recal_batches: int = 20,
                 batch_size: int = 128):
        self.supernet, self.space, self.rule = supernet, space, rule
        n = min(len(recal_x), recal_batches * batch_size)
        self.recal = [recal_x[i:i + batch_size] for i in range(0, n, batch_size)]
        self.held_x, self.held_y, self.batch_size = held_x, held_y, batch_size

    def score_paths(self, widths: Sequence[int]) -> dict[str, float]:
        out = {}
        with preserved_bn(self.supernet):
            for path in self.rule.paths(self.space, widths):
                sels = selections(self.space, path)
                recalibrate_bn(self.supernet, sels, self.recal)
                out[path.side] = accuracy(self.supernet, sels, self.held_x, self.held_y,
                                          self.batch_size)
        return out

    def score(self, widths: Sequence[int]) -> float:
        scores = self.score_paths(widths)
        return sum(scores.values()) / len(scores)
