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
def accuracy(net: nn.Module, path: Path | None, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 256) -> float:
    """Top-1 accuracy in percent, eval mode."""
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        batch = x[i:i + batch_size]
        logits = net(batch) if path is None else net(batch, path)  # a plain net: its own call
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


class _SupernetJudge:
    """The scorer's supernet, offered to a rule's `choose` for one width's candidates."""

    def __init__(self, scorer: WidthScorer):
        self.scorer = scorer
        self.scored: dict[tuple[PathSpec, ...], dict[str, float]] = {}  # reused by scoring

    def scores(self, paths: Sequence[PathSpec]) -> dict[str, float]:
        key = tuple(paths)
        if key not in self.scored:
            self.scored[key] = self.scorer._score(paths)
        return dict(self.scored[key])

    def losses(self, choices: Sequence[Sequence[PathSpec]], batches: int) -> list[float]:
        s = self.scorer
        if s.recal_y is None:
            raise ValueError("selecting a min-min candidate by loss needs recal_y")
        return candidate_losses(s.supernet, s.space, s.rule, choices, s.recal[:batches],
                                s.recal_y[:batches])


class WidthScorer:
    """Scores width vectors of one supernet: each path recalibrated, then evaluated.

    `recal_x`: the fixed training inputs used for recalibration (already on device);
    `recal_y` their labels (a min-min rule may judge a width's candidates by their loss).
    A width's score is the mean over its rule's paths (left/right for BCNet rules); with
    several candidate path sets (min-min rules) the rule's `choose` picks the one that
    stands for the width, once, and the choice is remembered.
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
        self._scores: dict[tuple[int, ...], dict[str, float]] = {}  # scored while choosing

    def chosen_paths(self, widths: Sequence[int]) -> list[PathSpec]:
        """The paths that stand for `widths`: the rule's, or its chosen candidate's."""
        return self._choose(widths)[0]

    def _choose(self, widths: Sequence[int]) -> tuple[list[PathSpec], dict]:
        w = self.space.validate(widths)
        if w in self._chosen:
            return self._chosen[w]
        choices = self.rule.choices(self.space, w)
        judge = _SupernetJudge(self)
        best, info = self.rule.choose(choices, judge)
        if not 0 <= best < len(choices):
            raise ValueError(f"rule {self.rule.name!r} chose candidate {best} of {len(choices)}")
        scored = judge.scored.get(tuple(choices[best]))
        if scored is not None:  # already recalibrated and scored: score_paths reuses it
            self._scores[w] = scored
        if len(choices) == 1:  # nothing was chosen: no need to remember it
            return choices[0], info
        self._chosen[w] = (choices[best], info)
        return self._chosen[w]

    def forget_choices(self) -> None:
        """Drop remembered candidate choices (the supernet's weights changed)."""
        self._chosen.clear()
        self._scores.clear()

    def choice_info(self, widths: Sequence[int]) -> dict:
        """The rule's account of its candidate choice: `choose`'s info ({} by default)."""
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
