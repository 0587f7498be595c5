"""Width sampling for supernet training: uniform, or stochastic complementary pairs, and
the plan of each step (one width, a sandwich of widths, or the full supernet).

Stateless by design: the width of global step t is a function of (seed, t) alone, so
a resumed run, and every rank of a distributed run, draws exactly the same widths.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from slimnas.width.space import WidthSpace


class WidthSampler:
    def __init__(self, space: WidthSpace, seed: int, complementary: bool = False):
        self.space, self.seed, self.complementary = space, seed, complementary

    def __call__(self, step: int) -> tuple[int, ...]:
        if not self.complementary:
            return self.space.sample(random.Random(f"{self.seed}:width:{step}"))
        # steps 2k and 2k+1 share one draw c; the odd step trains c' = c_min + c_max - c
        c = self.space.sample(random.Random(f"{self.seed}:pair:{step // 2}"))
        return self.space.complement(c) if step % 2 else c


@dataclass(frozen=True)
class StepPlan:
    """What one training step trains: the full supernet, or one or more width vectors.

    Under the sandwich rule `widths` is (max, min, random...) and, with in-place
    distillation, `widths[0]` (the max) teaches the others. `recorded`: the indices of
    `widths` whose losses join the loss records of the search prior.
    """

    widths: tuple[tuple[int, ...], ...]
    full: bool = False
    distill: bool = False
    recorded: tuple[int, ...] = ()


class StepPlanner:
    """The plan of global step t, a function of (seed, t) alone, like WidthSampler.

    - `full_net_every` N > 0: steps N-1, 2N-1, ... train the full supernet (every bin of
      every group: for BCNetV2 the enlarged supernet, which keeps every bin's use count
      equal); the other steps draw from the sampler as if the full steps were not there,
      so complementary pairs stay on consecutive sampled steps.
    - `sandwich`: a sampled step trains the max width, the min width and `random` random
      widths (AutoSlim). With `complementary` the random widths come in complementary
      pairs within the step (c, c'), as max and min are each other's complement.
    - otherwise one width per step from WidthSampler (uniform or complementary pairs).
    """

    def __init__(self, space: WidthSpace, seed: int, complementary: bool = False,
                 sandwich: bool = False, random_widths: int = 2, full_net_every: int = 0,
                 distill: bool = False):
        self.space, self.seed, self.complementary = space, seed, complementary
        self.sandwich, self.random_widths = sandwich, random_widths
        self.full_net_every, self.distill = full_net_every, distill
        self.sampler = WidthSampler(space, seed, complementary)

    def __call__(self, step: int) -> StepPlan:
        n = self.full_net_every
        if n and step % n == n - 1:
            return StepPlan((), full=True)
        s = step - step // n if n else step  # the index among sampled steps
        if not self.sandwich:
            return StepPlan((self.sampler(s),), recorded=(0,))
        space = self.space
        drawn: list[tuple[int, ...]] = []
        for i in range(self.random_widths):
            if self.complementary and i % 2:
                drawn.append(space.complement(drawn[-1]))
            else:
                drawn.append(space.sample(random.Random(f"{self.seed}:sandwich:{s}:{i}")))
        widths = (space.max_widths(), space.min_widths(), *drawn)
        return StepPlan(widths, distill=self.distill, recorded=tuple(range(2, len(widths))))
