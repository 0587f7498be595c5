"""Scoring a width in a supernet: BN recalibration, then top-1 on held-out data (1.7)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from slimnas.width.net import Path, WidthNet, selections
from slimnas.width.space import PathSpec, WidthSpace


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


def candidate_losses(supernet: nn.Module, space, rule, choices, xs, ys) -> list[float]:
    """Each candidate path set's weighted training loss on the batch, without gradients.

    Train-mode BN (batch statistics, as the gradient pass will see); the running
    statistics are restored afterwards so the extra forwards leave no trace.
    """
    out = []
    with torch.no_grad(), preserved_bn(supernet):
        supernet.train()
        for paths in choices:
            weights = rule.loss_weights(paths)
            total = 0.0
            for x, y in zip(xs, ys, strict=True):
                for p, w in zip(paths, weights, strict=True):
                    total += w * float(F.cross_entropy(supernet(x, selections(space, p)), y))
            out.append(total / len(xs))
    return out


class WidthScorer:
    """Scores width vectors of one supernet: each path recalibrated, then evaluated.

    `recal_x`: the fixed training inputs used for recalibration (already on device);
    `recal_y` their labels (min-min rules pick a width's candidate by its loss on them).
    A width's score is the mean over its rule's paths (left/right for BCNet rules); for a
    min-min rule (CafeNet) the paths of its best candidate, chosen once and remembered.
    """

    def __init__(self, supernet: WidthNet, space: WidthSpace, rule, recal_x: torch.Tensor,
                 held_x: torch.Tensor, held_y: torch.Tensor, recal_batches: int = 20,
                 batch_size: int = 128, recal_y: torch.Tensor | None = None):
        self.supernet, self.space, self.rule = supernet, space, rule
        n = min(len(recal_x), recal_batches * batch_size)
        self.recal = [recal_x[i:i + batch_size] for i in range(0, n, batch_size)]
        self.recal_y = None if recal_y is None else \
            [recal_y[i:i + batch_size] for i in range(0, n, batch_size)]
        self.held_x, self.held_y, self.batch_size = held_x, held_y, batch_size
        self._chosen: dict[tuple[int, ...], tuple[list[PathSpec], dict]] = {}
        self._scores: dict[tuple[int, ...], dict[str, float]] = {}  # select="score" only

    def chosen_paths(self, widths: Sequence[int]) -> list[PathSpec]:
        """The paths that stand for `widths`: the rule's, or a min-min rule's best candidate."""
        return self._choose(widths)[0]

    def _choose(self, widths: Sequence[int]) -> tuple[list[PathSpec], dict]:
        w = self.space.validate(widths)
        if w in self._chosen:
            return self._chosen[w]
        choices = self.rule.choices(self.space, w)
        if len(choices) == 1:
            return choices[0], {}
        scored: list[dict[str, float]] = []
        if self.rule.select == "score":
            scored = [self._score(paths) for paths in choices]
            values = [sum(v.values()) / len(v) for v in scored]
            best = max(range(len(choices)), key=values.__getitem__)
        else:
            if self.recal_y is None:
                raise ValueError("selecting a min-min candidate by loss needs recal_y")
            k = min(self.rule.select_batches, len(self.recal))
            values = candidate_losses(self.supernet, self.space, self.rule, choices,
                                      self.recal[:k], self.recal_y[:k])
            best = min(range(len(choices)), key=values.__getitem__)
        info = {"candidates": len(choices), "select": self.rule.select,
                "values": {c[0].side: v for c, v in zip(choices, values, strict=True)}}
        if scored:  # already recalibrated and scored: score_paths reuses it
            self._scores[w] = scored[best]
        self._chosen[w] = (choices[best], info)
        return self._chosen[w]

    def forget_choices(self) -> None:
        """Drop remembered candidate choices (the supernet's weights changed)."""
        self._chosen.clear()
        self._scores.clear()

    def choice_info(self, widths: Sequence[int]) -> dict:
        """How a min-min rule's candidate was chosen (empty for other rules)."""
        return self._choose(widths)[1]

    def _score(self, paths: Sequence[PathSpec]) -> dict[str, float]:
        out = {}
        with preserved_bn(self.supernet):
            for path in paths:
                sels = selections(self.space, path)
                recalibrate_bn(self.supernet, sels, self.recal)
                out[path.side] = accuracy(self.supernet, sels, self.held_x, self.held_y,
                                          self.batch_size)
        return out

    def score_paths(self, widths: Sequence[int]) -> dict[str, float]:
        paths = self.chosen_paths(widths)
        cached = self._scores.get(self.space.validate(widths))
        return dict(cached) if cached is not None else self._score(paths)

    def score(self, widths: Sequence[int]) -> float:
        scores = self.score_paths(widths)
        return sum(scores.values()) / len(scores)
