"""The authors' training recipes as options: the sandwich rule with in-place distillation
(AutoSlim), full-network steps (BCNet as released) and training compute in MACs."""

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config

from slimnas.config import load_config, parse_macs
from slimnas.errors import SlimnasError
from slimnas.io import load_checkpoint
from slimnas.runs import CHECKPOINT
from slimnas.search.costs import flops_of
from slimnas.width.fairness import bin_usage
from slimnas.width.net import build_supernet
from slimnas.width.sampler import StepPlanner, WidthSampler
from slimnas.width.sharing import get_rule
from slimnas.width.sharing.base import full_path
from slimnas.width.steps import StepCompute, plan_choices
from slimnas.width.train import (
    PathsLoss,
    TrainingInterrupted,
    soft_cross_entropy,
    train_supernet,
    train_units,
)


def _space(rule="bcnetv2", family="cbm-resnet"):
    return get_rule(rule).make_space(family, 4, 1, width_mult=0.0625)


def test_sandwich_steps_train_max_min_and_random_widths():
    space = _space()
    plain = StepPlanner(space, seed=3, sandwich=True, random_widths=2)
    paired = StepPlanner(space, seed=3, complementary=True, sandwich=True, random_widths=3)
    for step in range(20):
        plan = plain(step)
        assert plan.widths[:2] == (space.max_widths(), space.min_widths())
        assert len(plan.widths) == 4 and plan.recorded == (2, 3) and not plan.full
        assert plan == StepPlanner(space, seed=3, sandwich=True)(step)  # (seed, step) alone
        p = paired(step)
        assert len(p.widths) == 5 and p.widths[3] == space.complement(p.widths[2])
    draws = {plain(t).widths[2] for t in range(20)}
    assert len(draws) > 10  # random, not one fixed width
    assert StepPlanner(space, 3, sandwich=True, random_widths=0)(0).widths == \
        (space.max_widths(), space.min_widths())


def test_full_net_steps_keep_the_sampled_sequence_and_complementary_pairs():
    space = _space()
    sampler = WidthSampler(space, seed=1, complementary=True)
    planner = StepPlanner(space, seed=1, complementary=True, full_net_every=3)
    plans = [planner(t) for t in range(12)]
    assert [t for t, p in enumerate(plans) if p.full] == [2, 5, 8, 11]
    sampled = [p.widths[0] for p in plans if not p.full]
    assert sampled == [sampler(s) for s in range(8)]
    for a, b in zip(sampled[::2], sampled[1::2], strict=True):  # pairs stay together
        assert b == space.complement(a)
    every2 = StepPlanner(space, seed=1, full_net_every=2)
    assert [t for t in range(8) if every2(t).full] == [1, 3, 5, 7]
    # "full" is the whole (enlarged) supernet: every bin of every group, K0 + m bins
    units = plan_choices(space, get_rule("bcnetv2"), plans[2], 1, 2)
    assert units == [[[full_path(space)]]]
    assert full_path(space).bins[0] == tuple(range(5))


def test_full_net_steps_keep_bcnetv2_exactly_fair_and_sandwich_pairs_too():
    base = bin_usage("bcnetv2", 4, 1, 120, groups=2, complementary=True)
    full = bin_usage("bcnetv2", 4, 1, 120, groups=2, complementary=True, full_net_every=3)
    sandwich = bin_usage("bcnetv2", 4, 1, 30, groups=2, complementary=True, sandwich=True)
    assert base["max_min_ratio"] == full["max_min_ratio"] == sandwich["max_min_ratio"] == 1.0
    # 80 sampled steps x 2 paths x 2 uses per pair / 2 ... + 40 full steps: every bin 120
    assert full["groups"][0]["counts"] == [120] * 5
    assert sandwich["groups"][0]["counts"] == [30 * 4] * 5  # 8 paths cover each bin 4x
    ua = bin_usage("ua", 4, 1, 40, sandwich=True, sandwich_random=0)
    assert ua["groups"][0]["counts"] == [80, 40, 40, 40]  # max and min only


def test_soft_cross_entropy_matches_a_hand_computation():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    target = torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    q = torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True)
    hand = -(target * torch.log(q)).sum() / 2
    torch.testing.assert_close(soft_cross_entropy(logits, target), hand)
    # a one-hot target is the hard cross-entropy
    onehot = F.one_hot(torch.tensor([1, 2]), 3).float()
    torch.testing.assert_close(soft_cross_entropy(logits, onehot),
                               F.cross_entropy(logits, torch.tensor([1, 2])))


@pytest.mark.parametrize("rule", ["ua", "bcnet"])
def test_inplace_distillation_gradient_equals_the_hand_written_loss(rule):
    torch.manual_seed(0)
    sharing = get_rule(rule)
    space = sharing.make_space("cbm-resnet", 4, 1, width_mult=0.0625, input_size=8,
                               in_channels=1)
    net = build_supernet(space).train()
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    plan = StepPlanner(space, seed=0, sandwich=True, distill=True)(0)
    units = plan_choices(space, sharing, plan, 0, 0)
    calls = []
    hook = net.register_forward_hook(lambda m, i, o: calls.append(i[1]))
    loss, picks, width_losses = train_units(PathsLoss(net), net, space, sharing, units, [x],
                                            [y], distill=True)
    hook.remove()
    assert len(calls) == 4 * len(sharing.paths(space, space.max_widths()))  # 4 widths
    got = {k: p.grad.clone() for k, p in net.named_parameters()}
    net.zero_grad(set_to_none=True)

    from slimnas.width.net import selections

    def out(w, path):
        return net(x, selections(space, path))

    teacher_paths = sharing.paths(space, plan.widths[0])
    weight = 1 / len(teacher_paths)
    logits = [out(plan.widths[0], p) for p in teacher_paths]
    hand = sum(weight * F.cross_entropy(z, y) for z in logits)
    teacher = sum(weight * F.softmax(z.detach(), 1) for z in logits)
    labels = [float(hand.detach())]
    for w in plan.widths[1:]:
        paths = sharing.paths(space, w)
        zs = [out(w, p) for p in paths]
        hand = hand + sum(-(teacher * F.log_softmax(z, 1)).sum(1).mean() / len(paths)
                          for z in zs)
        labels.append(float(sum(F.cross_entropy(z.detach(), y) / len(paths) for z in zs)))
    hand.backward()
    assert loss == pytest.approx(float(hand.detach()), rel=1e-5)
    assert width_losses == pytest.approx(labels, rel=1e-5)
    for k, p in net.named_parameters():
        torch.testing.assert_close(got[k], p.grad, rtol=1e-4, atol=1e-6, msg=k)


def test_step_compute_counts_forward_and_backward_of_every_path():
    space, batch = _space(), 64
    rule = get_rule("bcnetv2")
    one = StepCompute(space, rule, StepPlanner(space, seed=0), batch)
    w = StepPlanner(space, seed=0)(0).widths[0]
    left = flops_of(space, w)
    right_paths = rule.paths(space, w)
    assert one.path_macs(right_paths[0]) == left
    assert one.step_macs(0) == batch * 3 * sum(one.path_macs(p) for p in right_paths)
    full = StepCompute(space, rule, StepPlanner(space, seed=0, full_net_every=2), batch)
    from slimnas.flops import cost_model

    assert full.step_macs(1) == batch * 3 * cost_model(space.spec).macs(space.channels)
    sandwich = StepCompute(space, get_rule("ua"), StepPlanner(space, 0, sandwich=True), batch)
    plan = sandwich.planner(5)
    assert sandwich.step_macs(5) == batch * 3 * sum(flops_of(space, v) for v in plan.widths)
    # CafeNet: every candidate's no-grad forward plus the trained one
    caf = get_rule("cafenet")
    cspace = caf.make_space("cbm-resnet", 4, 1, width_mult=0.0625)
    cc = StepCompute(cspace, caf, StepPlanner(cspace, seed=0), batch)
    cands = plan_choices(cspace, caf, cc.planner(0), 0, 0)[0]
    sets = [sum(cc.path_macs(p) for p in c) for c in cands]
    assert len(sets) > 1
    assert cc.step_macs(0) == round(batch * (3 * sum(sets) / len(sets) + sum(sets)))
    assert one.total(3) == sum(one.step_macs(t) for t in range(3))
    budget = one.total(7) - 1
    assert one.steps_for(budget) == 7 and one.steps_for(one.total(7)) == 7


def test_compute_budget_replaces_epochs_and_is_logged(tmp_path):
    cfg = tiny_config(tmp_path / "a", eval_every=0)
    ref = train_supernet(cfg)
    spe = ref["steps"] // 2
    assert ref["history"][-1]["compute_macs"] == ref["compute_macs"] > 0
    # a budget that ends one step into the second epoch
    budget = ref["history"][0]["compute_macs"] + 1
    cut = train_supernet(tiny_config(tmp_path / "b", eval_every=0, compute=budget))
    assert cut["steps"] == spe + 1 and len(cut["history"]) == 2
    assert cut["history"][-1]["epoch"] == 2 and cut["compute_macs"] >= budget
    log = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert log[0].split(",")[:5] == ["epoch", "step", "train_loss", "lr", "compute_macs"]


def test_sandwich_distill_run_resumes_bit_exactly(tmp_path):
    recipe = {"sandwich": True, "inplace_distill": True, "full_net_every": 3, "epochs": 1,
              "eval_every": 0}
    ref = train_supernet(tiny_config(tmp_path / "ref", **recipe))
    cfg = tiny_config(tmp_path / "cut", checkpoint_every_steps=4, **recipe)
    with pytest.raises(TrainingInterrupted):
        train_supernet(cfg, interrupt_at_step=6)
    assert load_checkpoint(tmp_path / "cut" / CHECKPOINT)["global_step"] == 4
    done = train_supernet(cfg, resume=True)
    a = load_checkpoint(tmp_path / "ref" / CHECKPOINT)
    b = load_checkpoint(tmp_path / "cut" / CHECKPOINT)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["records"] == b["records"]
    assert a["compute_macs"] == b["compute_macs"] == done["compute_macs"] == ref["compute_macs"]
    # records: the 2 random widths of every sampled step (not max/min, not full steps)
    sampled = ref["steps"] - ref["steps"] // 3
    assert len(a["records"]) == min(100, 2 * sampled)


def test_recipe_options_are_checked():
    with pytest.raises(SlimnasError, match="inplace_distill needs train.sandwich"):
        load_config(None, ["train.inplace_distill=true"])
    with pytest.raises(SlimnasError, match="full_net_every must be 0"):
        load_config(None, ["train.full_net_every=1"])
    with pytest.raises(SlimnasError, match="train.sandwich_random must be an integer >= 0"):
        load_config(None, ["train.sandwich_random=-1"])
    assert parse_macs("2.5G") == 2_500_000_000
