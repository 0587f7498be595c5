"""Width sampling for supernet training: uniform, or stochastic complementary pairs.

Stateless by design: the width of global step t is a function of (seed, t) alone, so
a resumed run, and every rank of a distributed run, draws exactly the same widths.
"""

from __future__ import annotations

import random

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
