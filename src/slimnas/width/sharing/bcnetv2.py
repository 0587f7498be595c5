"""BCNetV2: bilateral paths on a supernet enlarged to K0 + m bins, widths on [m, K0] (1.4).

With c uniform on [m, K0] every bin j has P(c > j) + P(c >= K - j) = 1: all channels
are trained equally, and complementary pairs make that exact within each pair.
"""

from __future__ import annotations

from slimnas.width.sharing.base import register
from slimnas.width.sharing.bcnet import BilateralRule


@register
class EnlargedBilateralRule(BilateralRule):
    name = "bcnetv2"
    enlarges = True
