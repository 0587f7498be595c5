"""The interface every weight-sharing rule implements, and the registry rules join."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

from slimnas.registry import Registry
from slimnas.width.space import PathSpec, WidthSpace


class CandidateJudge(Protocol):
    """The two ways a rule's `choose` may judge candidate path sets with a trained supernet."""

    def scores(self, paths: Sequence[PathSpec]) -> dict[str, float]:
        """Held-out top-1 per path (its side) after BN recalibration; scoring reuses it."""

    def losses(self, choices: Sequence[Sequence[PathSpec]], batches: int) -> list[float]:
        """Each candidate's training-mode loss on the first `batches` recalibration batches."""


class SharingRule(ABC):
    """Maps a width vector to the path(s) that train and score it.

    `enlarges`: the rule widens the supernet by (K0 + m) / K0 (BCNetV2).
    A training step sums `weight * loss(path)` over `paths`; a width's score is the
    mean of its paths' held-out accuracies.
    """

    name: str = ""
    enlarges: bool = False
    minmin: bool = False  # several candidate path sets per width; train/score the best one
    # options that only change how a trained supernet is scored (may differ from training)
    scoring_options: tuple[str, ...] = ()

    @abstractmethod
    def paths(self, space: WidthSpace, widths: Sequence[int]) -> list[PathSpec]:
        """The sub-networks that train and score `widths`."""

    def choices(self, space: WidthSpace, widths: Sequence[int],
                rng: random.Random | None = None) -> list[list[PathSpec]]:
        """Alternative path sets for `widths` (min-min rules); one for every other rule."""
        return [self.paths(space, widths)]

    def choose(self, choices: list[list[PathSpec]], judge: CandidateJudge) -> tuple[int, dict]:
        """Which of `choices` stands for the width in search and export, and a JSON-able
        account of the choice (arch.json's `minmin` for a min-min rule)."""
        return 0, {}

    def choice_reason(self, info: dict) -> str | None:
        """arch.json's `path_choice` for a choice `choose` described by `info`; None keeps
        the generic one (best held-out score, or the rule's only path)."""
        return None

    def loss_weights(self, paths: Sequence[PathSpec]) -> list[float]:
        return [1.0 / len(paths)] * len(paths)

    def make_space(self, family: str, bins: int, min_bins: int, **options) -> WidthSpace:
        """`options`: the family's, plus get_space's flops_bins / flops_bins_min / round_to."""
        from slimnas.width.spaces import get_space

        return get_space(family, bins=bins, min_bins=min_bins, enlarge=self.enlarges, **options)


# here, not in the package __init__, so rule files join it without importing their importer
RULES: Registry[type[SharingRule]] = Registry("rule")
register = RULES.register()  # `@register` files a rule class under its `name`


def left_path(space: WidthSpace, widths: Sequence[int]) -> PathSpec:
    w = tuple(widths)
    return PathSpec(w, tuple(tuple(range(c)) for c in w), "left")


def right_path(space: WidthSpace, widths: Sequence[int]) -> PathSpec:
    w = tuple(widths)
    return PathSpec(w, tuple(tuple(range(k - c, k)) for c, k in zip(w, space.bins, strict=True)),
                    "right")


def full_path(space: WidthSpace) -> PathSpec:
    """Every bin of every group: the whole supernet (for BCNetV2, the enlarged one)."""
    return PathSpec(space.max_widths(), tuple(tuple(range(k)) for k in space.bins), "full")
