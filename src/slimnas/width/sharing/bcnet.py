"""BCNet: every width trained and scored by its left AND right path (ALGORITHMS.md 1.2)."""

from __future__ import annotations

from collections.abc import Sequence

from slimnas.width.sharing.base import SharingRule, left_path, register, right_path
from slimnas.width.space import PathSpec, WidthSpace


@register
class BilateralRule(SharingRule):
    name = "bcnet"

    def paths(self, space: WidthSpace, widths: Sequence[int]) -> list[PathSpec]:
        w = space.validate(widths)
        return [left_path(space, w), right_path(space, w)]
