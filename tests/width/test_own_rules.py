"""Every sharing rule on a user's own model, through the library's own pieces unchanged:
from_model -> build_supernet -> the trainer's train_step -> WidthScorer -> extract."""

import random

import pytest
import torch
from own_models import ResidualSEConcatNet, randomise_bn

import slimnas
from slimnas.errors import SlimnasError
from slimnas.flops import width_costs
from slimnas.width.evaluate import WidthScorer
from slimnas.width.net import build_supernet, extract, selections
from slimnas.width.sharing import get_rule
from slimnas.width.train import PathsLoss, train_step

RULES = ["ua", "bcnet", "bcnetv2", "cafenet"]


@pytest.mark.parametrize("rule_name", RULES)
def test_each_rule_trains_scores_and_exports_a_users_model(rule_name):
    torch.manual_seed(0)
    rule = get_rule(rule_name)
    model = randomise_bn(ResidualSEConcatNet())
    x = torch.randn(64, 3, 16, 16)
    y = torch.randint(0, 10, (64,))
    space = slimnas.from_model(model, x[:2], bins=4, enlarge=rule.enlarges)
    supernet = build_supernet(space)
    assert type(supernet).__name__ == "OwnSupernet"
    loss_module = PathsLoss(supernet)
    opt = torch.optim.SGD(supernet.parameters(), lr=0.05, momentum=0.9)
    rng = random.Random(0)
    losses = []
    for step in range(6):
        widths = space.sample(rng)
        choices = rule.choices(space, widths, random.Random(step))
        loss, _ = train_step(loss_module, supernet, space, rule, choices,
                             [x[:32], x[32:]], [y[:32], y[32:]])
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss)
    assert all(torch.isfinite(torch.tensor(losses)))
    scorer = WidthScorer(supernet, space, rule, x[:32], x[32:], y[32:], recal_batches=2,
                         batch_size=16, recal_y=y[:32])
    widths = space.sample(random.Random(1))
    assert 0.0 <= scorer.score(widths) <= 100.0
    for path in scorer.chosen_paths(widths):  # BCNet: left and right; CafeNet: its candidate
        plain = extract(supernet, space, path).eval()
        supernet.eval()
        got = supernet(x[:8], selections(space, path))
        assert (got - plain(x[:8])).abs().max() <= 1e-5
        params = sum(p.numel() for p in plain.parameters())
        assert params == width_costs(space, widths)["params"]
    costs = width_costs(space, space.max_widths())
    assert costs["params"] == sum(p.numel() for p in model.parameters())


def test_the_space_keeps_the_models_channel_counts_and_refuses_bins_that_do_not_fit():
    model = ResidualSEConcatNet()
    space = slimnas.from_model(model, torch.zeros(1, 3, 16, 16), bins=4)
    assert space.full_channels == space.channels == (16, 12, 8, 24, 32)  # SE's follows stem
    wide = slimnas.from_model(model, torch.zeros(1, 3, 16, 16), bins=4, enlarge=True)
    assert wide.channels == (20, 15, 10, 30, 40) and wide.full_channels == space.channels
    with pytest.raises(SlimnasError, match="group main has 12 channels.*ignore=\\['main'\\]"):
        slimnas.from_model(model, torch.zeros(1, 3, 16, 16), bins=4, round_to=2)
    ok = slimnas.from_model(model, torch.zeros(1, 3, 16, 16), bins=2, round_to=2)
    assert ok.channels == (16, 12, 8, 24, 32)
    searched = slimnas.from_model(model, torch.zeros(1, 3, 16, 16), bins=2, se="search")
    assert searched.channels == (16, 4, 12, 8, 24, 32)
    with pytest.raises(SlimnasError, match="group se.reduce has 4 channels"):
        slimnas.from_model(model, torch.zeros(1, 3, 16, 16), bins=4, round_to=2, se="search")
    with pytest.raises(SlimnasError, match="round_to must be an integer >= 1"):
        slimnas.from_model(model, torch.zeros(1, 3, 16, 16), round_to=0)
