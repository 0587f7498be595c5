import random

import numpy as np
import pytest

from slimnas.bench import bench_space
from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.search.prior import PriorSampler, potential_loss_table


def _synthetic_records(space, n=100, seed=0):
    """Loss is lowest when group 0 is wide and group 2 narrow (plus noise)."""
    rng = random.Random(seed)
    recs = []
    for _ in range(n):
        w = space.sample(rng)
        loss = 1.0 - 0.1 * w[0] + 0.1 * w[2] + rng.random() * 0.01
        recs.append((loss, w))
    return recs


def test_table_is_mean_loss_per_group_width_and_unseen_is_large():
    space = bench_space("mobilenet")
    recs = [(1.0, (1, 1, 1, 1, 1, 1, 1)), (3.0, (1, 2, 2, 2, 2, 2, 2))]
    table = potential_loss_table(space, recs)
    assert table[0][0] == 2.0  # width 1 of group 0: mean of 1 and 3
    assert table[1][0] == 1.0 and table[1][1] == 3.0
    assert table[1][3] > 3.0  # width 4 never seen: larger than any record
    with pytest.raises(SlimnasError, match="records"):
        potential_loss_table(space, [])


@pytest.mark.parametrize("space_name", ["mobilenet", "resnet"])
@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.75])
def test_prior_prefers_low_loss_widths_and_hits_the_budget(space_name, fraction):
    space = bench_space(space_name)
    model = cost_model(space.spec)
    full = model.macs(space.channels_of(space.max_widths()))
    budget = fraction * full
    recs = _synthetic_records(space)
    prior = PriorSampler(space, recs, budget, steps=3000)
    # the control: the same budget with a flat loss table, so only FLOPs shapes it
    flat = PriorSampler(space, [(1.0, w) for _, w in recs], budget, steps=3000)
    p, q = prior.probs, flat.probs
    widths = np.arange(1, 5)
    # low-loss widths gain mass: group 0 wider and group 2 narrower than under FLOPs alone
    assert p[0] @ widths > q[0] @ widths
    assert p[2] @ widths < q[2] @ widths
    assert p[0][3] > q[0][3] and p[2][0] > q[2][0]
    assert abs(prior.expected_flops() / budget - 1) < 0.10
    pop = prior.sample(random.Random(1), 30)
    assert len(pop) == len(set(pop)) == 30
    assert all(0.8 * budget <= model.macs(space.channels_of(w)) <= budget for w in pop)


def test_gradient_descent_lowers_the_objective():
    space = bench_space("resnet")
    full = cost_model(space.spec).macs(space.channels_of(space.max_widths()))
    recs = _synthetic_records(space)
    before = PriorSampler(space, recs, 0.5 * full, steps=0).objective()
    after = PriorSampler(space, recs, 0.5 * full, steps=500).objective()
    assert after < before


def test_sampling_is_bounded_when_the_window_is_unreachable():
    space = bench_space("mobilenet")
    prior = PriorSampler(space, _synthetic_records(space), 1.0, steps=10)  # 1 MAC: impossible
    assert prior.sample(random.Random(0), 5, max_tries=2000) == []
