"""FLOPs budgets: parse "150M" / "1.2G" / "3e8" / "0.5", the legal window, feasibility.

FLOPs here are multiply-accumulates (MACs), as in the width-search papers and
Channel-Bench-Macro. A candidate is legal when low <= FLOPs <= high, with
(low, high) = window * budget (the authors' window is [0.8, 1.0]).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.search.costs import MACS, all_widths_array
from slimnas.search.members import Members, as_members
from slimnas.width.space import WidthSpace

SUFFIXES = {"k": 1e3, "m": 1e6, "g": 1e9}
# spaces at most this large are enumerated to decide feasibility exactly (CBM: 16384)
FEASIBILITY_ENUM_LIMIT = 100_000
_NUMBER = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?|[0-9]+\.)([kmg]?)$")


def parse_budget(text: str | float, full_flops: int) -> int:
    """Absolute MACs ("150M", "1.2G", "3e8", 300000000) or a fraction in (0, 1] of
    `full_flops` ("0.5", 0.5); anything else raises SlimnasError."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise SlimnasError(f"bad FLOPs budget {text!r}: expected e.g. 150M, 1.2G, 3e8 or 0.5")
    raw = text.strip().lower() if isinstance(text, str) else repr(text).lower()
    m = _NUMBER.match(raw.replace("_", ""))
    if not m:
        raise SlimnasError(
            f"bad FLOPs budget {text!r}: expected MACs with an optional K/M/G suffix "
            "(150M, 1.2G, 3e8) or a fraction in (0, 1] of the full-width FLOPs (0.5)"
        )
    value = float(m.group(1))
    if not math.isfinite(value) or value <= 0:
        raise SlimnasError(f"bad FLOPs budget {text!r}: it must be positive")
    if m.group(2):
        return int(round(value * SUFFIXES[m.group(2)]))
    if value <= 1:
        return int(round(value * full_flops))
    if value != int(value):
        raise SlimnasError(
            f"bad FLOPs budget {text!r}: neither a fraction in (0, 1] nor a whole number of MACs"
        )
    return int(value)


_LATENCY = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)(ms|us|s)?$")
_TIME_UNITS = {"ms": 1.0, "us": 1e-3, "s": 1e3}


def parse_cost_budget(text: str | float, full: float, cost=MACS) -> float:
    """A budget in `cost`'s units: MACs and params as `parse_budget` reads them (a count
    with an optional K/M/G suffix, or a fraction in (0, 1] of the full width's); latency
    as milliseconds with a unit ("5ms", "800us", "0.005s") or a fraction in (0, 1] of the
    full width's predicted latency."""
    if cost.name != "latency":
        return parse_budget(text, full)
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise SlimnasError(f"bad latency budget {text!r}: expected e.g. 5ms, 800us or 0.5")
    raw = text.strip().lower().replace(" ", "") if isinstance(text, str) else repr(text)
    m = _LATENCY.match(raw)
    if not m:
        raise SlimnasError(f"bad latency budget {text!r}: expected a time with its unit "
                           "(5ms, 800us, 0.005s) or a fraction in (0, 1] of the full width's "
                           "predicted latency (0.5)")
    value = float(m.group(1))
    if not math.isfinite(value) or value <= 0:
        raise SlimnasError(f"bad latency budget {text!r}: it must be positive")
    if m.group(2):
        return value * _TIME_UNITS[m.group(2)]
    if value <= 1:
        return value * full
    raise SlimnasError(f"bad latency budget {text!r}: give its unit (e.g. {value:g}ms) or a "
                       "fraction in (0, 1]")


@dataclass(frozen=True)
class Budget:
    """A budget and its legal window [window[0] * flops, window[1] * flops].

    `flops` is the budget in `cost`'s units: MACs (the default), params, or predicted
    milliseconds with a latency table's cost (`slimnas.latency.LatencyCost`)."""

    flops: float
    window: tuple[float, float] = (0.8, 1.0)
    cost: object = field(default=MACS, compare=False)

    def of(self, space: WidthSpace, widths) -> float:
        """The cost of one width vector, in the budget's units."""
        return self.cost.of(space, widths)

    def batch(self, space: WidthSpace, widths: np.ndarray) -> np.ndarray:
        """(N,) costs of (N, G) width vectors."""
        return self.cost.batch(space, widths)

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.window)
        if self.flops <= 0:
            raise SlimnasError(f"the FLOPs budget must be positive, got {self.flops}")
        if not 0 <= lo <= hi:
            raise SlimnasError(f"bad budget window {self.window}: need 0 <= low <= high")
        object.__setattr__(self, "window", (lo, hi))

    @property
    def low(self) -> float:
        return self.window[0] * self.flops

    @property
    def high(self) -> float:
        return self.window[1] * self.flops

    def legal(self, flops: float) -> bool:
        """Inside the window: low <= flops <= high."""
        return self.low <= flops <= self.high

    def fits(self, flops: float) -> bool:
        """Not over the budget: flops <= high (the window's low end is ignored)."""
        return flops <= self.high

    def describe(self) -> str:
        if self.cost is MACS:
            return f"{self.flops:,} MACs, window [{self.low:,.0f}, {self.high:,.0f}]"
        d = self.cost.describe
        return f"{d(self.flops)}, window [{d(self.low)}, {d(self.high)}]"


def check_feasible(space: WidthSpace, budget: Budget, window: bool = True,
                   members: Members | None = None) -> None:
    """Raise SlimnasError, before any search work, when no width vector can be legal.

    Always: the smallest possible FLOPs exceed the budget. With `window`: the largest
    possible FLOPs are below the window's low end or, for spaces small enough to
    enumerate, no vector at all lands inside the window. With `members` (the only vectors
    a search may use, e.g. a built benchmark's), the same questions about those vectors.
    """
    members = as_members(space, members)
    if members is not None:
        _check_members(space, budget, window, members)
        return
    d = budget.cost.describe
    smallest = budget.of(space, space.min_widths())
    if smallest > budget.high:
        raise SlimnasError(
            f"infeasible budget {d(budget.flops)} (window high {d(budget.high)}): the "
            f"smallest possible {budget.cost.label} of this space: {d(smallest)}"
        )
    if not window:
        return
    largest = budget.of(space, space.max_widths())
    if largest < budget.low:
        raise SlimnasError(
            f"unreachable window [{d(budget.low)}, {d(budget.high)}]: the largest "
            f"possible {budget.cost.label} of this space: {d(largest)}; lower the budget or "
            "the window"
        )
    grid = all_widths_array(space, FEASIBILITY_ENUM_LIMIT)
    if grid is not None:
        f = budget.batch(space, grid)
        if not np.any((f >= budget.low) & (f <= budget.high)):
            raise SlimnasError(
                f"unreachable window [{d(budget.low)}, {d(budget.high)}]: none of the "
                f"{len(grid):,} width vectors of this space has its {budget.cost.label} inside "
                "it; widen the window"
            )


def _check_members(space: WidthSpace, budget: Budget, window: bool, members: Members) -> None:
    d = budget.cost.describe
    f = budget.batch(space, members.array)
    lo, hi = f.min(), f.max()
    if lo > budget.high:
        raise SlimnasError(
            f"infeasible budget {d(budget.flops)} (window high {d(budget.high)}): the "
            f"smallest {budget.cost.label} of {members.source}: {d(lo)}"
        )
    if window and not np.any((f >= budget.low) & (f <= budget.high)):
        raise SlimnasError(
            f"unreachable window [{d(budget.low)}, {d(budget.high)}]: none of "
            f"{members.source} ({budget.cost.label} {d(lo)} to {d(hi)}) lies inside it; "
            "change the budget or widen the window"
        )
