"""Greedy slimming (AutoSlim-style): narrow one group by one bin at a time.

Start at full width; at each step evaluate every single-bin reduction (one group one
bin narrower, never below c_min) and keep the best-scoring one, until the FLOPs fit
under the budget. The result is the FIRST vector that fits: it may lie below the
window's low end (a one-bin step can jump over the whole window), which is inherent to
the method, so greedy results satisfy `budget.fits`, not necessarily `budget.legal`.
At most sum(c_max - c_min) steps of at most G evaluations each.
"""

from __future__ import annotations

import random

from slimnas.search.base import InitSampler, Searcher
from slimnas.search.budget import Budget
from slimnas.search.result import SearchLog
from slimnas.width.space import WidthSpace


class GreedySearcher(Searcher):
    """AutoSlim-style greedy slimming from full width down to the budget.

    `best` is the first vector that fits; `top_k` lists it first, then the other
    evaluated vectors that fit, by score. If the evaluator's query cap runs out on the
    way, the best evaluated vector that fits is returned (an error if there is none).
    """

    name = "greedy"
    needs_window = False

    def __init__(self, top_k: int = 10, enumerate_limit: int = 100_000):
        super().__init__(top_k, enumerate_limit)

    def _run(self, space: WidthSpace, log: SearchLog, budget: Budget, rng: random.Random,
             init: InitSampler | None) -> tuple[int, ...]:
        current = space.max_widths()
        log.evaluate(current, generation=0)
        steps = sum(hi - lo for lo, hi in zip(space.c_min, space.c_max, strict=True))
        for step in range(1, steps + 1):
            if budget.fits(log.flops(current)):
                break
            moves = [tuple(v - (g == i) for g, v in enumerate(current))
                     for i in range(space.num_groups) if current[i] > space.c_min[i]]
            scored = [(log.evaluate(w, generation=step), -k) for k, w in enumerate(moves)]
            # best score; ties go to the earliest group, deterministically
            current = moves[-max(scored)[1]]
        return current
