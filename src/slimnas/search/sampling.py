"""Bounded sampling of legal width vectors (FLOPs inside the budget window).

Small spaces (<= `enumerate_limit` vectors, e.g. Channel-Bench-Macro's 16384) are
enumerated once: sampling is then exactly uniform over the legal vectors and can never
loop. Larger spaces use uniform rejection in numpy batches for a bounded number of
rounds, then a bounded repair walk (shrink or grow random groups one bin at a time
until the FLOPs enter the window) for windows that rejection rarely hits.

With `members` (a finite set of allowed vectors, e.g. a built benchmark's architectures)
the table is the members inside the window, and `legal_mask` also asks for membership.
"""

from __future__ import annotations

import random
from collections.abc import Container

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.search.budget import Budget
from slimnas.search.costs import all_widths_array
from slimnas.search.members import Members, as_members
from slimnas.width.space import WidthSpace

ENUMERATE_LIMIT = 100_000


def numpy_rng(rng: random.Random) -> np.random.Generator:
    """A numpy generator seeded from (and advancing) a random.Random."""
    return np.random.default_rng(rng.getrandbits(63))


class LegalSampler:
    """Distinct legal width vectors, never more than a bounded amount of work per call."""

    def __init__(self, space: WidthSpace, budget: Budget, enumerate_limit: int = ENUMERATE_LIMIT,
                 batch: int = 4096, rounds: int = 25, members: Members | None = None):
        self.space, self.budget = space, budget
        self.batch, self.rounds = batch, rounds
        self.members = as_members(space, members)
        self.lo = np.asarray(space.c_min, dtype=np.int64)
        self.hi = np.asarray(space.c_max, dtype=np.int64)
        self.ever_hit = False
        self.legal: np.ndarray | None = None  # every legal vector when enumerated
        # the members are a table already: never sample outside them
        grid = self.members.array if self.members is not None else \
            all_widths_array(space, enumerate_limit)
        if grid is not None:
            f = budget.batch(space, grid)
            self.legal = grid[(f >= budget.low) & (f <= budget.high)]
            self.ever_hit = len(self.legal) > 0

    def _d(self, value: float) -> str:
        return self.budget.cost.describe(value)

    @property
    def enumerated(self) -> bool:
        return self.legal is not None

    def legal_mask(self, widths: np.ndarray) -> np.ndarray:
        """(N,) bool: FLOPs inside the window (and a member, when members are set)."""
        f = self.budget.batch(self.space, widths)
        ok = (f >= self.budget.low) & (f <= self.budget.high)
        if self.members is not None:
            ok &= self.members.mask(widths)
        return ok

    def sample(self, rng: random.Random, n: int,
               exclude: Container[tuple[int, ...]] = ()) -> list[tuple[int, ...]]:
        """Up to n distinct legal vectors not in `exclude`, uniform where possible.

        Fewer than n come back only when the legal vectors outside `exclude` run out (or,
        in a huge space, stay unfound after the bounded tries); none at all for a window
        that was never hit raises SlimnasError.
        """
        if n <= 0:
            return []
        out = self._from_table(rng, n, exclude) if self.enumerated else \
            self._by_rejection(rng, n, exclude)
        if not out and not self.ever_hit and self.members is not None:
            raise SlimnasError(
                f"none of {self.members.source} has {self.budget.cost.label} in "
                f"[{self._d(self.budget.low)}, {self._d(self.budget.high)}]; widen the window "
                "or change the budget"
            )
        if not out and not self.ever_hit:
            raise SlimnasError(
                f"could not sample any width vector with {self.budget.cost.label} in "
                f"[{self._d(self.budget.low)}, {self._d(self.budget.high)}] after "
                f"{self.rounds * self.batch:,} uniform draws "
                "and repair walks; widen the window or change the budget"
            )
        return out

    def _from_table(self, rng: random.Random, n: int, exclude) -> list[tuple[int, ...]]:
        assert self.legal is not None
        out: list[tuple[int, ...]] = []
        for i in numpy_rng(rng).permutation(len(self.legal)):
            w = tuple(int(v) for v in self.legal[i])
            if w not in exclude:
                out.append(w)
                if len(out) == n:
                    break
        return out

    def _by_rejection(self, rng: random.Random, n: int, exclude) -> list[tuple[int, ...]]:
        gen = numpy_rng(rng)
        out: list[tuple[int, ...]] = []
        taken: set[tuple[int, ...]] = set()
        for _ in range(self.rounds):
            draws = gen.integers(self.lo, self.hi + 1, size=(self.batch, len(self.lo)))
            for row in draws[self.legal_mask(draws)]:
                self.ever_hit = True
                w = tuple(int(v) for v in row)
                if w not in exclude and w not in taken:
                    taken.add(w)
                    out.append(w)
                    if len(out) == n:
                        return out
        # rejection rarely hits this window: walk random draws into it instead
        for _ in range(20 * (n - len(out)) + 100):
            w = self.repair(rng, self.space.sample(rng))
            if w is not None and w not in exclude and w not in taken:
                self.ever_hit = True
                taken.add(w)
                out.append(w)
                if len(out) == n:
                    break
        return out

    def repair(self, rng: random.Random, widths: tuple[int, ...]) -> tuple[int, ...] | None:
        """Shrink (or grow) random groups one bin at a time into the window; None if it
        steps over it. At most sum(c_max - c_min) steps."""
        w = list(widths)
        f = self.budget.of(self.space, w)
        steps = int((self.hi - self.lo).sum())
        for _ in range(steps):
            if f > self.budget.high:
                groups = [g for g, v in enumerate(w) if v > self.space.c_min[g]]
                delta = -1
            elif f < self.budget.low:
                groups = [g for g, v in enumerate(w) if v < self.space.c_max[g]]
                delta = 1
            else:
                break
            if not groups:
                return None
            g = rng.choice(groups)
            w[g] += delta
            f = self.budget.of(self.space, w)
        return tuple(w) if self.budget.legal(f) else None
