"""A training step's paths and its compute in MACs (forward and backward of every path).

`plan_choices` turns a StepPlan into, per trained width, the candidate path sets the rule
offers (one set for every rule but a min-min one). `StepCompute` counts what a step costs,
as a function of the step number alone (so a resumed run and a compute budget agree):

    MACs(step) = batch x (3 x trained + candidates)

where `trained` sums the forward MACs of every back-propagated path (backward counted as
twice the forward, the usual convention: gradients for inputs and for weights) and
`candidates` the forward MACs of a min-min rule's no-gradient candidate passes. A min-min
width's trained path is counted at the mean of its candidates (exact when its bins are
equal-sized, as in every built-in space). In-place distillation adds no pass: the teacher
is the max width's own trained forward.
"""

from __future__ import annotations

import random
from statistics import fmean

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.width.sampler import StepPlan, StepPlanner
from slimnas.width.sharing.base import SharingRule, full_path
from slimnas.width.space import PathSpec, WidthSpace

MAX_COMPUTE_STEPS = 50_000_000  # a compute budget needing more steps is refused


def plan_choices(space: WidthSpace, rule: SharingRule, plan: StepPlan, seed: int,
                 step: int) -> list[list[list[PathSpec]]]:
    """Per trained width of `plan`, the rule's candidate path sets (the full supernet: one
    set of one path). The first width's candidates are drawn as a one-width step's are."""
    if plan.full:
        return [[[full_path(space)]]]
    return [rule.choices(space, w, random.Random(f"{seed}:choice:{step}" if i == 0
                                                 else f"{seed}:choice:{step}:{i}"))
            for i, w in enumerate(plan.widths)]


class StepCompute:
    """Training MACs of each global step (see the module docstring)."""

    def __init__(self, space: WidthSpace, rule: SharingRule, planner: StepPlanner,
                 batch: int):
        self.space, self.rule, self.planner, self.batch = space, rule, planner, batch
        self.model = cost_model(space.spec)
        self._paths: dict[tuple, int] = {}

    def path_macs(self, path: PathSpec) -> int:
        """Forward MACs of one image through a path."""
        macs = self._paths.get(path.bins)
        if macs is None:
            channels = [sum(hi - lo for lo, hi in (self.space.bin_range(g, j, j + 1)
                                                   for j in bins))
                        for g, bins in enumerate(path.bins)]
            macs = self._paths[path.bins] = self.model.macs(channels)
        return macs

    def step_macs(self, step: int) -> int:
        return self.units_macs(plan_choices(self.space, self.rule, self.planner(step),
                                            self.planner.seed, step))

    def units_macs(self, units: list[list[list[PathSpec]]]) -> int:
        """MACs of a step that trains `units` (plan_choices' output): the trainer, which
        has them already, counts its steps with this."""
        trained = candidates = 0.0
        for choices in units:
            sets = [sum(self.path_macs(p) for p in paths) for paths in choices]
            trained += fmean(sets)
            if len(sets) > 1:
                candidates += sum(sets)
        return round(self.batch * (3 * trained + candidates))

    def total(self, steps: int) -> int:
        """MACs of steps 0 .. steps - 1."""
        return sum(self.step_macs(t) for t in range(steps))

    def steps_for(self, budget: int) -> int:
        """The fewest steps whose compute reaches `budget` MACs."""
        done = 0
        for step in range(MAX_COMPUTE_STEPS):
            done += self.step_macs(step)
            if done >= budget:
                return step + 1
        raise SlimnasError(f"train.compute {budget:.3g} MACs needs more than "
                           f"{MAX_COMPUTE_STEPS:,} steps; give a smaller budget")
