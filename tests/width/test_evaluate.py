import pytest
import torch

from slimnas.width.evaluate import (
    WidthScorer,
    accuracy,
    candidate_losses,
    preserved_bn,
    recalibrate_bn,
)
from slimnas.width.net import build_supernet, selections
from slimnas.width.sharing import get_rule


def _setup(rule="bcnet"):
    r = get_rule(rule)
    space = r.make_space("plaincnn", 4, 1, depth=2, width=8, in_channels=1, input_size=6)
    torch.manual_seed(0)
    return r, space, build_supernet(space)


def test_recalibration_is_the_cumulative_average_of_batch_statistics():
    rule, space, net = _setup()
    path = selections(space, rule.paths(space, (2, 3))[1])  # a right path
    batches = [torch.randn(16, 1, 6, 6) * (i + 1) + i for i in range(5)]
    recalibrate_bn(net, path, batches)
    bn = net.blocks[0].convs[0].bn
    conv = net.blocks[0].convs[0].conv
    with torch.no_grad():
        feats = [conv(b, None, path[0]) for b in batches]
    mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    n = feats[0].numel() // feats[0].shape[1]
    var = torch.stack([f.var((0, 2, 3)) for f in feats]).mean(0)  # unbiased, as BN
    torch.testing.assert_close(bn.running_mean[path[0]], mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_var[path[0]], var, rtol=1e-4, atol=1e-5)
    assert n == 16 * 6 * 6
    # channels outside the path are reset, not estimated
    assert torch.all(bn.running_mean[: path[0].start] == 0)
    assert not net.training


def test_scoring_leaves_the_supernet_untouched():
    rule, space, net = _setup()
    net.train()
    net(torch.randn(8, 1, 6, 6), selections(space, rule.paths(space, (4, 4))[0]))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(40, 1, 6, 6), torch.randint(0, 10, (40,))
    scorer = WidthScorer(net, space, rule, x, x, y, recal_batches=2, batch_size=16)
    scores = scorer.score_paths((2, 3))
    assert set(scores) == {"left", "right"}
    assert scorer.score((2, 3)) == (scores["left"] + scores["right"]) / 2
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net.training  # mode restored too


def test_accuracy_counts_top1_in_percent():
    rule, space, net = _setup("ua")
    x = torch.randn(30, 1, 6, 6)
    path = selections(space, rule.paths(space, (1, 2))[0])
    net.eval()
    with torch.no_grad():
        pred = net(x, path).argmax(1)
    y = pred.clone()
    y[:10] = (y[:10] + 1) % 10
    assert accuracy(net, path, x, y, batch_size=7) == 100.0 * 20 / 30


def test_preserved_bn_restores_after_an_exception():
    rule, space, net = _setup()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        with preserved_bn(net):
            recalibrate_bn(net, None, [torch.randn(4, 1, 6, 6)])
            raise RuntimeError
    except RuntimeError:
        pass
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert all(bn.momentum == 0.1 for bn in net.bn_modules())


def test_scorer_asks_the_rule_to_choose_and_reuses_what_its_judge_scored(monkeypatch):
    rule, space, net = _setup()
    x, y = torch.randn(40, 1, 6, 6), torch.randint(0, 10, (40,))
    scorer = WidthScorer(net, space, rule, x, x, y, recal_batches=2, batch_size=16)
    calls = []
    real = scorer._score
    monkeypatch.setattr(scorer, "_score", lambda paths: calls.append(paths) or real(paths))
    left, right = rule.paths(space, (2, 3))

    def choose(choices, judge):  # a min-min rule judging by held-out score
        assert choices == [[left], [right]]
        return 1, {"right": judge.scores(choices[1]), "again": judge.scores(choices[1])}

    monkeypatch.setattr(rule, "choices", lambda space, w, rng=None: [[left], [right]])
    monkeypatch.setattr(rule, "choose", choose)
    assert scorer.chosen_paths((2, 3)) == [right]
    info = scorer.choice_info((2, 3))
    assert info["right"] == info["again"] == scorer.score_paths((2, 3))
    assert len(calls) == 1  # scored once while choosing, reused by scoring
    scorer.forget_choices()
    scorer.score((2, 3))
    assert len(calls) == 2


def test_scorer_refuses_a_bad_choice_and_loss_judging_without_labels(monkeypatch):
    rule, space, net = _setup()
    x, y = torch.randn(40, 1, 6, 6), torch.randint(0, 10, (40,))
    scorer = WidthScorer(net, space, rule, x, x, y, recal_batches=2, batch_size=16)
    monkeypatch.setattr(rule, "choose", lambda choices, judge: (len(choices), {}))
    with pytest.raises(ValueError, match="chose candidate 1 of 1"):
        scorer.score((2, 3))
    monkeypatch.setattr(rule, "choose",
                        lambda choices, judge: (0, {"losses": judge.losses(choices, 1)}))
    with pytest.raises(ValueError, match="needs recal_y"):
        scorer.score((2, 3))
    labelled = WidthScorer(net, space, rule, x, x, y, recal_batches=2, batch_size=16,
                           recal_y=y)
    want = candidate_losses(net, space, rule, [rule.paths(space, (2, 3))], [x[:16]], [y[:16]])
    assert labelled.choice_info((2, 3)) == {"losses": want}  # the first batch only
