"""CafeNet: locally free weight sharing with min-min optimisation (ALGORITHMS.md 1.8).

The library's reading of the paper (which has no official code), in bins:
- A width of c bins in a group of K bins uses b = max(0, c - r) BASE bins [0, b) and
  f = c - b FREE bins chosen from the local zone [b, min(K, c + r)): the 2r bins right
  after the base, clipped at the group's edge (when c < r: all c bins are free, chosen
  from bins [0, c + r)). r = 0 leaves no choice: exactly UA's left-most bins.
- A candidate of a width vector picks one free set per group. All candidates are used
  when there are at most `candidates` of them, otherwise a seeded random sample of
  `candidates` distinct ones (the first drawn per group independently).
- Training (min-min): per step, every candidate's loss on the batch is computed without
  gradients and only the lowest-loss one is back-propagated.
- Search: a width is represented by its best candidate. `select="loss"` picks the
  candidate with the lowest training-mode loss on the first `select_batches` fixed
  recalibration batches (cheap: no recalibration per candidate); `select="score"` picks
  the best held-out score after recalibrating each candidate (slower, and the max of noisy
  scores is optimistic). The chosen free bins travel into arch.json and the export.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

from slimnas.errors import SlimnasError
from slimnas.width.sharing.base import CandidateJudge, SharingRule, left_path, register
from slimnas.width.space import PathSpec, WidthSpace

SELECT = ("loss", "score")


def free_choices(k: int, c: int, r: int) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """(base bins, candidate free-bin sets) of a width of c bins in a group of k bins."""
    base = max(0, c - r)
    zone = range(base, min(k, c + r))
    return tuple(range(base)), list(itertools.combinations(zone, c - base))


@register
class CafeNetRule(SharingRule):
    name = "cafenet"
    minmin = True
    scoring_options = ("candidates", "select", "select_batches")

    def __init__(self, offset: int = 1, candidates: int = 8, select: str = "loss",
                 select_batches: int = 2):
        for label, v, lo in (("offset", offset, 0), ("candidates", candidates, 1),
                             ("select_batches", select_batches, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise SlimnasError(f"cafenet {label} must be an integer >= {lo}, got {v!r}")
        if select not in SELECT:
            raise SlimnasError(f"cafenet select must be one of {', '.join(SELECT)}, "
                               f"got {select!r}")
        self.offset, self.candidates = offset, candidates
        self.select, self.select_batches = select, select_batches

    def paths(self, space: WidthSpace, widths: Sequence[int]) -> list[PathSpec]:
        """The fixed pattern (every free bin at the zone's left end): UA's left path."""
        return [left_path(space, space.validate(widths))]

    def group_choices(self, space: WidthSpace, widths: Sequence[int]):
        w = space.validate(widths)
        return [free_choices(k, c, self.offset) for c, k in zip(w, space.bins, strict=True)]

    def num_choices(self, space: WidthSpace, widths: Sequence[int]) -> int:
        return math.prod(len(free) for _, free in self.group_choices(space, widths))

    def choices(self, space: WidthSpace, widths: Sequence[int],
                rng: random.Random | None = None) -> list[list[PathSpec]]:
        """The candidate free selections of a width vector, one path each."""
        w = space.validate(widths)
        groups = self.group_choices(space, w)
        total = math.prod(len(free) for _, free in groups)
        if total <= self.candidates:
            picks = list(itertools.product(*(range(len(free)) for _, free in groups)))
        else:
            rng = rng or random.Random(f"cafenet:{space.key(w)}")
            seen: dict[tuple[int, ...], None] = {}
            for _ in range(50 * self.candidates):  # bounded: total > candidates, so it ends
                seen.setdefault(tuple(rng.randrange(len(free)) for _, free in groups))
                if len(seen) == self.candidates:
                    break
            picks = list(seen)
        out = []
        for pick in picks:
            bins = tuple(tuple(sorted(base + free[i])) for (base, free), i
                         in zip(groups, pick, strict=True))
            side = "free:" + ".".join(map(str, pick))
            out.append([PathSpec(w, bins, side)])
        return out

    def choose(self, choices: list[list[PathSpec]], judge: CandidateJudge) -> tuple[int, dict]:
        """The best candidate by `select`: lowest loss on `select_batches` recalibration
        batches, or highest mean held-out score after recalibrating each candidate."""
        info: dict = {"offset": self.offset}
        if len(choices) == 1:
            return 0, info
        if self.select == "score":
            scored = [judge.scores(paths) for paths in choices]
            values = [sum(v.values()) / len(v) for v in scored]
            best = max(range(len(choices)), key=values.__getitem__)
        else:
            values = judge.losses(choices, self.select_batches)
            best = min(range(len(choices)), key=values.__getitem__)
        info.update(candidates=len(choices), select=self.select,
                    values={c[0].side: v for c, v in zip(choices, values, strict=True)})
        return best, info

    def choice_reason(self, info: dict) -> str | None:
        if "candidates" not in info:  # offset 0 or a single candidate: the fixed pattern
            return None
        return f"the best of {info['candidates']} free-channel candidates (by {info['select']})"
