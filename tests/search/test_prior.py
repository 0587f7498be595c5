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


def _full(space) -> float:
    return cost_model(space.spec).macs(space.channels_of(space.max_widths()))


def _numeric_gradient(prior, h=1e-6):
    """Central finite differences of the objective w.r.t. every theta entry."""
    grads = []
    for theta in prior.theta:
        g = np.zeros_like(theta)
        for i in range(len(theta)):
            old = theta[i]
            theta[i] = old + h
            up = prior.objective()
            theta[i] = old - h
            down = prior.objective()
            theta[i] = old
            g[i] = (up - down) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("space_name", ["mobilenet", "resnet"])
@pytest.mark.parametrize("lam, target", [(1000.0, 0.4), (1.0, 1.0), (0.0, 0.7)])
def test_gradient_matches_finite_differences(space_name, lam, target):
    space = bench_space(space_name)
    prior = PriorSampler(space, _synthetic_records(space), 0.5 * _full(space), lam=lam,
                         target=target, steps=0, init="random", seed=3)
    exact, numeric = prior.gradient(), _numeric_gradient(prior)
    scale = max(np.abs(np.concatenate(numeric)).max(), 1e-3)
    for a, b in zip(exact, numeric, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * scale)
    if lam == 1000.0:
        assert scale > 1.0  # the FLOPs penalty dominates: the check is not of the losses alone


def test_lam_zero_ignores_flops():
    space = bench_space("mobilenet")
    recs = _synthetic_records(space)
    small = PriorSampler(space, recs, 0.2 * _full(space), lam=0.0, steps=300)
    large = PriorSampler(space, recs, 0.9 * _full(space), lam=0.0, steps=300)
    for a, b in zip(small.theta, large.theta, strict=True):
        np.testing.assert_array_equal(a, b)  # the budget changes nothing
    loss_only = np.mean([p @ e for p, e in zip(small.probs, small.table, strict=True)])
    assert small.objective() == pytest.approx(loss_only)
    # the control: with lam > 0 the two budgets learn different priors
    a = PriorSampler(space, recs, 0.2 * _full(space), lam=1.0, steps=300)
    b = PriorSampler(space, recs, 0.9 * _full(space), lam=1.0, steps=300)
    assert a.expected_flops() < 0.5 * b.expected_flops()


@pytest.mark.parametrize("target", [0.4, 0.7, 1.0])
def test_target_fraction_shifts_the_expected_flops(target):
    space = bench_space("resnet")
    budget = 0.6 * _full(space)
    prior = PriorSampler(space, _synthetic_records(space), budget, lam=10.0, target=target,
                         steps=3000)
    assert prior.target_flops == target * budget
    assert abs(prior.expected_flops() / (target * budget) - 1) < 0.05
    # sampling stays in the window of the budget, not of the target
    for w in prior.sample(random.Random(0), 10):
        assert 0.8 * budget <= prior.model.macs(space.channels_of(w)) <= budget


def test_random_init_is_seeded():
    space = bench_space("mobilenet")
    recs = _synthetic_records(space)
    budget = 0.5 * _full(space)

    def theta(**kw):
        return np.concatenate(PriorSampler(space, recs, budget, steps=0, **kw).theta)

    same = theta(init="random", seed=7)
    np.testing.assert_array_equal(same, theta(init="random", seed=7))
    assert not np.allclose(same, theta(init="random", seed=8))
    assert 0.5 < same.std() < 1.5  # unit-scale logits: N(0, 1), as the released torch.randn
    assert (theta(init="zeros", seed=7) == 0).all() and (theta(seed=8) == 0).all()
    # the learned prior inherits it: same seed same prior
    fit = [PriorSampler(space, recs, budget, steps=200, init="random", seed=s).probs
           for s in (1, 1, 2)]
    np.testing.assert_array_equal(np.concatenate(fit[0]), np.concatenate(fit[1]))
    assert not np.allclose(np.concatenate(fit[0]), np.concatenate(fit[2]))


@pytest.mark.parametrize("option, value, needle", [
    ("lam", -1.0, r"prior option lam must be a number in \[0.0, inf\)"),
    ("target", 0.0, r"prior option target must be a number in \(0.0, inf\)"),
    ("lr", float("nan"), "prior option lr"),
    ("steps", 2.5, "prior option steps must be an integer >= 0"),
    ("init", "ones", "prior option init must be zeros or random, got 'ones'"),
    ("seed", "0", "prior option seed must be an integer"),
])
def test_bad_prior_options_are_one_line(option, value, needle):
    space = bench_space("mobilenet")
    with pytest.raises(SlimnasError, match=needle) as info:
        PriorSampler(space, _synthetic_records(space), 1e6, **{option: value})
    assert "\n" not in str(info.value)


def test_the_pipeline_builds_the_prior_from_the_config():
    from slimnas.config import load_config
    from slimnas.pipeline import prior_sampler
    from slimnas.search.budget import Budget

    space = bench_space("mobilenet")
    recs = _synthetic_records(space)
    budget = Budget(0.5 * _full(space), (0.7, 1.0))
    cfg = load_config(overrides=["seed=5", "search.prior.lam=1000", "search.prior.target=0.4",
                                 "search.prior.lr=0.01", "search.prior.steps=20",
                                 "search.prior.init=random"])
    prior = prior_sampler(cfg, space, recs, budget)
    assert (prior.lam, prior.target, prior.lr, prior.steps, prior.init, prior.seed) == \
        (1000.0, 0.4, 0.01, 20, "random", 5)
    assert prior.window == (0.7, 1.0) and prior.budget == budget.flops
    again = PriorSampler(space, recs, budget.flops, budget.window, lam=1000, target=0.4,
                         lr=0.01, steps=20, init="random", seed=5)
    np.testing.assert_array_equal(np.concatenate(prior.probs), np.concatenate(again.probs))
    default = prior_sampler(load_config(), space, recs, budget)
    assert (default.lam, default.target, default.lr, default.steps, default.init) == \
        (1.0, 1.0, 0.1, 3000, "zeros")
