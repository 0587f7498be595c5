"""The interface every weight-sharing rule implements."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence

from slimnas.width.space import PathSpec, WidthSpace


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

    def loss_weights(self, paths: Sequence[PathSpec]) -> list[float]:
        return [1.0 / len(paths)] * len(paths)

    def make_space(self, family: str, bins: int, min_bins: int, **options) -> WidthSpace:
        """`options`: the family's, plus get_space's flops_bins / flops_bins_min."""
        from slimnas.width.spaces import get_space

        return get_space(family, bins=bins, min_bins=min_bins, enlarge=self.enlarges, **options)


def left_path(space: WidthSpace, widths: Sequence[int]) -> PathSpec:
    w = tuple(widths)
    return PathSpec(w, tuple(tuple(range(c)) for c in w), "left")


def right_path(space: WidthSpace, widths: Sequence[int]) -> PathSpec:
    w = tuple(widths)
    return PathSpec(w, tuple(tuple(range(k - c, k)) for c, k in zip(w, space.bins, strict=True)),
                    "right")
