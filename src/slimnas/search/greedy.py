"""Greedy slimming (AutoSlim-style): narrow one group by one bin at a time.

Start at full width; at each step evaluate every single-bin reduction (one group one
bin narrower, never below c_min) and keep the best-scoring one, until the FLOPs fit
under the budget. The result is the FIRST vector that fits: it may lie below the
window's low end (a one-bin step can jump over the whole window), which is inherent to
the method, so greedy results satisfy `budget.fits`, not necessarily `budget.legal`.
At most sum(c_max - c_min) steps of at most G evaluations each.

With `members` (a finite set, e.g. a built benchmark's architectures) a step goes to the
members nearest below the current vector: those narrower or equal in every group (else,
when there are none, those with fewer FLOPs) at the smallest total bin distance; in the
full space these are exactly the single-bin reductions. The full width is evaluated only
when it is a member (else it is the virtual start). Every step lowers the sum of widths
or the FLOPs, so at most len(members) steps.
"""

from __future__ import annotations

import random

import numpy as np

from slimnas.search.base import InitSampler, Searcher
from slimnas.search.budget import Budget
from slimnas.search.members import Members
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
             init: InitSampler | None) -> tuple[int, ...] | None:
        if log.members is not None:
            return self._run_members(space, log, budget, log.members)
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

    def _run_members(self, space: WidthSpace, log: SearchLog, budget: Budget,
                     members: Members) -> tuple[int, ...] | None:
        arr = members.array
        flops = budget.batch(space, arr)
        ref = np.asarray(space.max_widths(), dtype=np.int64)
        ref_flops = flops.max() + 1  # the virtual start costs more than every member
        current = None
        if tuple(space.max_widths()) in members:
            current = space.max_widths()
            log.evaluate(current, generation=0)
            ref_flops = log.flops(current)
        for step in range(1, len(arr) + 1):
            if current is not None and budget.fits(log.flops(current)):
                break
            below = np.all(arr <= ref, axis=1) & np.any(arr != ref, axis=1)
            if not below.any():
                below = flops < ref_flops
                if not below.any():
                    break
            dist = np.abs(arr - ref).sum(axis=1)
            nearest = np.flatnonzero(below & (dist == dist[below].min()))
            moves = [tuple(int(v) for v in arr[i]) for i in nearest]
            scored = [(log.evaluate(w, generation=step), -k) for k, w in enumerate(moves)]
            current = moves[-max(scored)[1]]  # best score; ties go to the first in order
            ref, ref_flops = np.asarray(current, dtype=np.int64), log.flops(current)
        return current
