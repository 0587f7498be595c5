"""Prior initial population (ALGORITHMS.md 1.5): learn per-group width distributions.

From the supernet's lowest-loss (loss, widths) records build the potential-loss table
E[g, w] (mean recorded loss where group g had width w; unseen pairs get a large value),
then minimise over p_g = softmax(theta_g)

    J(theta) = mean_g sum_w p_g(w) E[g, w] + lam * (1 - E_p[FLOPs] / (target * budget))^2

by plain gradient descent, `steps` steps of size `lr`, from theta = 0 (`init="zeros"`:
every width equally likely) or theta ~ N(0, 1) i.i.d. from a generator seeded with `seed`
(`init="random"`: the released code's torch.randn start; unit-scale logits keep every
width's first probability within a small factor of uniform, so the descent can still move
mass anywhere, and the softmax is shift-invariant, so the scale is the only choice).
slimnas' defaults: lam 1, target 1, lr 0.1, 3000 steps, zeros (the authors' lr 0.01
leaves E_p[FLOPs] 25 % short of a 0.75 budget after 3000 steps on Channel-Bench-Macro;
0.1 lands within 5 %). The released code (xiusu/BCNetV2): lam 1000, target 0.4, lr 0.01,
2000 steps, random; its E_p[FLOPs] is a neighbour-layer approximation, ours is exact, so
its target 0.4 does not carry over as the same distribution.

FLOPs are bilinear in the group channel counts (each conv term couples its input and
output groups), so under independent p_g the expectation is the same bilinear form
evaluated at E_p[channels]: exact, no sampling (a group's squeeze-excitation follower is
linearised in the gradient). The target only shapes the learned distribution: `sample`
always draws into the window [low, high] x budget. Plain numpy, no torch.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Sequence

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.flops import NONE, cost_model
from slimnas.search.base import float_option, int_option
from slimnas.width.space import WidthSpace


def potential_loss_table(space: WidthSpace, records: Sequence[tuple[float, Sequence[int]]],
                         unseen: float | None = None) -> list[np.ndarray]:
    """E[g][w - c_min]: mean loss of the records whose group g had width w."""
    if not records:
        raise SlimnasError("the prior needs the supernet's loss records; none were given")
    losses = np.array([float(loss) for loss, _ in records])
    widths = np.array([list(space.validate(w)) for _, w in records])
    big = float(losses.max() + (losses.max() - losses.min()) + 1.0) if unseen is None else unseen
    table = []
    for g in range(space.num_groups):
        lo, hi = space.c_min[g], space.c_max[g]
        row = np.full(hi - lo + 1, big)
        for w in range(lo, hi + 1):
            hit = widths[:, g] == w
            if hit.any():
                row[w - lo] = losses[hit].mean()
        table.append(row)
    return table


INITS = ("zeros", "random")


class PriorSampler:
    """Learned per-group categorical distributions and rejection sampling into a window.

    `lam`, `target`, `lr`, `steps`, `init` are config's search.prior; `seed` seeds the
    random init (the same seed gives the same prior; unused for zeros)."""

    def __init__(self, space: WidthSpace, records, budget_flops: float,
                 window: tuple[float, float] = (0.8, 1.0), lam: float = 1.0,
                 target: float = 1.0, lr: float = 0.1, steps: int = 3000,
                 init: str = "zeros", seed: int = 0, cost=None):
        from slimnas.search.costs import MACS

        self.space, self.budget, self.window = space, float(budget_flops), window
        # the budget's cost: MACs (None), or any cost with a `form(space)` of per-group
        # tables (params, a latency table): its expectation is exact too
        self.cost = MACS if cost is None else cost
        self._form = None if self.cost is MACS else self.cost.form(space)
        self.lam = float_option("prior", "lam", lam, 0.0)
        self.target = float_option("prior", "target", target, 0.0, low_open=True)
        self.lr = float_option("prior", "lr", lr, 0.0, low_open=True)
        self.steps = int_option("prior", "steps", steps, 0)
        if init not in INITS:
            raise SlimnasError(f"prior option init must be zeros or random, got {init!r}")
        self.init = init
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise SlimnasError(f"prior option seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self.table = potential_loss_table(space, records)
        self.model = cost_model(space.spec)
        # channels of group g at width c_min + i
        self.ch = [np.array([space.bin_range(g, 0, w)[1]
                             for w in range(space.c_min[g], space.c_max[g] + 1)], dtype=float)
                   for g in range(space.num_groups)]
        if init == "random":
            gen = np.random.default_rng(self.seed % 2**64)  # a negative run seed too
            self.theta = [gen.standard_normal(len(row)) for row in self.table]
        else:
            self.theta = [np.zeros(len(row)) for row in self.table]
        self.fit()

    @property
    def probs(self) -> list[np.ndarray]:
        return [_softmax(t) for t in self.theta]

    @property
    def target_flops(self) -> float:
        """The FLOPs the penalty pulls E_p[FLOPs] towards: target x budget."""
        return self.target * self.budget

    def expected_flops(self, probs: list[np.ndarray] | None = None) -> float:
        """E_p[cost] (MACs unless the budget counts another cost)."""
        probs = self.probs if probs is None else probs
        if self._form is not None:
            return self._form.expected(probs)
        mean_ch = [float(p @ c) for p, c in zip(probs, self.ch, strict=True)]
        return self.model.macs(mean_ch)

    def objective(self) -> float:
        probs = self.probs
        loss = np.mean([p @ e for p, e in zip(probs, self.table, strict=True)])
        return float(loss + self.lam * (1 - self.expected_flops(probs) / self.target_flops) ** 2)

    def gradient(self, scale: float = 1.0) -> list[np.ndarray]:
        """scale x dJ/dtheta_g for every group at the current theta (`fit` passes its lr,
        multiplied in first, as the descent has always rounded it)."""
        n = self.space.num_groups
        probs = self.probs
        if self._form is not None:
            return self._gradient_form(probs, scale)
        mean_ch = [float(p @ c) for p, c in zip(probs, self.ch, strict=True)]
        flops = self.model.macs(mean_ch)
        # dE_p[FLOPs]/dE[ch_g], from the bilinear terms
        dflops = np.zeros(n)
        for coef, a, b in self.model.pair_terms():
            va = 1.0 if a == NONE else mean_ch[a]
            vb = 1.0 if b == NONE else mean_ch[b]
            if a != NONE:
                dflops[a] += coef * vb
            if b != NONE:
                dflops[b] += coef * va
        t = self.target_flops
        k = self.lam * 2 * (1 - flops / t) * (-1 / t)
        grads = []
        for g in range(n):
            gp = self.table[g] / n + k * dflops[g] * self.ch[g]  # dJ/dp_g
            p = probs[g]
            grads.append(scale * p * (gp - p @ gp))  # softmax chain rule
        return grads

    def _gradient_form(self, probs: list[np.ndarray], scale: float) -> list[np.ndarray]:
        """`gradient` for a cost given as per-group tables (exact expectation)."""
        n = self.space.num_groups
        t = self.target_flops
        k = self.lam * 2 * (1 - self._form.expected(probs) / t) * (-1 / t)
        dcost = self._form.expected_grad(probs)
        grads = []
        for g in range(n):
            gp = self.table[g] / n + k * dcost[g]
            p = probs[g]
            grads.append(scale * p * (gp - p @ gp))
        return grads

    def fit(self) -> None:
        for _ in range(self.steps):
            for theta, step in zip(self.theta, self.gradient(self.lr), strict=True):
                theta -= step

    def sample(self, rng: random.Random, n: int, exclude: set | None = None,
               max_tries: int = 100_000) -> list[tuple[int, ...]]:
        """Up to n distinct widths from the prior with FLOPs in the window (bounded tries)."""
        seen = set(exclude or ())
        probs = [p / p.sum() for p in self.probs]
        cums = [np.cumsum(p) for p in probs]
        lo, hi = self.window[0] * self.budget, self.window[1] * self.budget
        out: list[tuple[int, ...]] = []
        for _ in range(max_tries):
            if len(out) >= n:
                break
            w = tuple(self.space.c_min[g] + int(np.searchsorted(c, rng.random(), side="right"))
                      for g, c in enumerate(cums))
            w = tuple(min(v, self.space.c_max[g]) for g, v in enumerate(w))
            if w in seen:
                continue
            flops = self.model.macs(self.space.channels_of(w)) if self._form is None \
                else self.cost.of(self.space, w)
            if lo <= flops <= hi:
                seen.add(w)
                out.append(w)
        return out

    def __call__(self, rng: random.Random, n: int) -> list[tuple[int, ...]]:
        return self.sample(rng, n)


def _softmax(t: np.ndarray) -> np.ndarray:
    e = np.exp(t - t.max())
    return e / e.sum()
