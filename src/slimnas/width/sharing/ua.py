"""Unilaterally augmented (AutoSlim-style) sharing: width c uses the left-most c bins."""

from __future__ import annotations

from collections.abc import Sequence

from slimnas.width.sharing.base import SharingRule, left_path, register
from slimnas.width.space import PathSpec, WidthSpace


@register
class UnilateralRule(SharingRule):
    name = "ua"

    def paths(self, space: WidthSpace, widths: Sequence[int]) -> list[PathSpec]:
        return [left_path(space, space.validate(widths))]
