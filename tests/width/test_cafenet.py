"""CafeNet: locally free channels, min-min training, export of the chosen candidate."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import torch
from conftest import SMALL_SPACES, tiny_config
from test_export import fresh_seed, sample_input, trained_supernet

from slimnas.errors import SlimnasError
from slimnas.io import load_checkpoint, read_json
from slimnas.width.checkpoint import export_width, load_supernet
from slimnas.width.evaluate import WidthScorer
from slimnas.width.export import export_path, load_exported
from slimnas.width.net import build_supernet, selections
from slimnas.width.sharing import get_rule
from slimnas.width.sharing.cafenet import free_choices
from slimnas.width.space import PathSpec
from slimnas.width.train import PathsLoss, candidate_losses, train_step, train_supernet

pytestmark = pytest.mark.usefixtures("single_thread")


def plain_space(rule, bins=5, depth=3, width=10):
    return rule.make_space("plaincnn", bins, 1, depth=depth, width=width, input_size=8,
                           in_channels=1)


@pytest.mark.parametrize("k", [1, 2, 4, 5, 8])
@pytest.mark.parametrize("r", [0, 1, 2, 3])
def test_free_choices_are_exactly_the_zone(k: int, r: int) -> None:
    for c in range(1, k + 1):
        base, free = free_choices(k, c, r)
        b = max(0, c - r)
        assert base == tuple(range(b))
        zone = list(range(b, min(k, c + r)))  # 2r bins after the base, clipped at the edge
        if c < r:
            assert zone == list(range(min(k, c + r)))  # base empty: free in bins 0..c+r-1
        assert sorted(free) == sorted(itertools.combinations(zone, c - b))
        assert len(set(free)) == len(free)
        for s in free:
            assert len(base) + len(s) == c and set(s) <= set(zone)


def test_choices_enumerate_every_candidate_when_few() -> None:
    rule = get_rule("cafenet", offset=1, candidates=1000)
    space = plain_space(rule)
    widths = (2, 5, 1)
    got = {p[0].bins for p in rule.choices(space, widths)}
    per_group = [{tuple(sorted(base + s)) for s in free}
                 for base, free in (free_choices(k, c, 1)
                                       for c, k in zip(widths, space.bins, strict=True))]
    assert got == set(itertools.product(*per_group))
    assert len(got) == 2 * 1 * 2 == rule.num_choices(space, widths)


def test_choices_sample_distinct_seeded_candidates_when_many() -> None:
    rule = get_rule("cafenet", offset=2, candidates=5)
    space = plain_space(rule, bins=8, depth=4)
    widths = (3, 4, 5, 2)
    assert rule.num_choices(space, widths) > 5
    a = rule.choices(space, widths, random.Random(7))
    b = rule.choices(space, widths, random.Random(7))
    assert [p[0].bins for p in a] == [p[0].bins for p in b]
    assert len({p[0].bins for p in a}) == 5
    every = {p[0].bins for p in get_rule("cafenet", offset=2, candidates=10**6)
             .choices(space, widths)}
    assert {p[0].bins for p in a} <= every


class StubJudge:
    """Fixed per-candidate scores and losses; records what the rule asked for."""

    def __init__(self, scores: list[dict[str, float]], losses: list[float]):
        self._scores, self._losses, self.asked = scores, losses, []

    def scores(self, paths):
        self.asked.append(("scores", paths[0].side))
        return dict(self._scores[int(paths[0].side.split(":")[1])])

    def losses(self, choices, batches):
        self.asked.append(("losses", batches))
        return list(self._losses)


def test_choose_picks_by_its_own_select_and_describes_the_choice() -> None:
    space = plain_space(get_rule("cafenet"))
    choices = [[PathSpec((1,), ((0,),), f"free:{i}")] for i in range(3)]
    judge = StubJudge([{"a": 10.0}, {"a": 30.0}, {"a": 20.0}], [0.5, 0.9, 0.1])
    rule = get_rule("cafenet", offset=2, select_batches=3)
    best, info = rule.choose(choices, judge)
    assert best == 2 and judge.asked == [("losses", 3)]
    assert info == {"offset": 2, "candidates": 3, "select": "loss",
                    "values": {"free:0": 0.5, "free:1": 0.9, "free:2": 0.1}}
    assert rule.choice_reason(info) == "the best of 3 free-channel candidates (by loss)"
    judge.asked.clear()
    best, info = get_rule("cafenet", select="score").choose(choices, judge)
    assert best == 1 and [a for a, _ in judge.asked] == ["scores"] * 3
    assert info["values"] == {"free:0": 10.0, "free:1": 30.0, "free:2": 20.0}
    # one candidate (offset 0): nothing judged, only the offset described
    one = get_rule("cafenet", offset=0)
    judge.asked.clear()
    assert one.choose(one.choices(space, (2, 3, 1)), judge) == (0, {"offset": 0})
    assert judge.asked == [] and one.choice_reason({"offset": 0}) is None


def test_bad_rule_options_are_clear_errors() -> None:
    with pytest.raises(SlimnasError, match="offset"):
        get_rule("cafenet", offset=-1)
    with pytest.raises(SlimnasError, match="select"):
        get_rule("cafenet", select="best")
    with pytest.raises(SlimnasError, match="cafenet"):
        get_rule("cafenet", radius=1)


def test_offset_zero_trains_exactly_like_ua(tmp_path: Path) -> None:
    weights = {}
    for name, extra in (("ua", []), ("cafenet", ["rule_options={offset: 0}"])):
        cfg = tiny_config(tmp_path / name, epochs=1, eval_every=0)
        cfg["rule"], cfg["complementary"] = name, False
        if extra:
            cfg["rule_options"] = {"offset": 0}
        train_supernet(cfg)
        state = load_checkpoint(tmp_path / name / "checkpoint.pt")
        weights[name] = (state["model"], state["records"])
    ua, cafe = weights["ua"], weights["cafenet"]
    assert ua[0].keys() == cafe[0].keys()
    for k in ua[0]:
        assert torch.equal(ua[0][k], cafe[0][k]), k
    assert ua[1] == cafe[1]


def grads(net) -> dict[str, torch.Tensor]:
    return {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
            for n, p in net.named_parameters()}


def test_minmin_step_backpropagates_only_the_argmin_candidate() -> None:
    rule = get_rule("cafenet", offset=1, candidates=100)
    space = plain_space(rule)
    torch.manual_seed(0)
    net = build_supernet(space).train()
    widths = (2, 3, 1)
    choices = rule.choices(space, widths)
    assert len(choices) == 8
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(6, 1, 8, 8, generator=gen) for _ in range(2)]  # two micro-batches
    ys = [torch.randint(0, 10, (6,), generator=gen) for _ in range(2)]
    bn_before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}

    # each candidate on its own: its loss and its gradient
    per = []
    for paths in choices:
        net.zero_grad(set_to_none=True)
        sels = selections(space, paths[0])
        loss = sum(torch.nn.functional.cross_entropy(net(x, sels), y)
                   for x, y in zip(xs, ys, strict=True)) / len(xs)
        loss.backward()
        per.append((float(loss.detach()), grads(net)))
    for k, v in bn_before.items():  # (the manual passes above moved the running stats)
        net.state_dict()[k].copy_(v)

    losses = candidate_losses(net, space, rule, choices, xs, ys)
    for k, v in bn_before.items():
        assert torch.equal(net.state_dict()[k], v), f"{k} changed by the candidate pass"
    best = min(range(len(per)), key=lambda i: per[i][0])
    assert losses == pytest.approx([p[0] for p in per], rel=1e-6)

    net.zero_grad(set_to_none=True)
    loss, pick = train_step(PathsLoss(net), net, space, rule, choices, xs, ys)
    assert pick == best
    assert loss == pytest.approx(per[best][0], rel=1e-6)
    got = grads(net)
    for n in got:
        assert torch.allclose(got[n], per[best][1][n], atol=1e-7), n
    differs = [i for i in range(len(per)) if i != best
               and any(not torch.allclose(got[n], per[i][1][n], atol=1e-7) for n in got)]
    assert len(differs) == len(per) - 1  # every other candidate has a different gradient


@pytest.mark.parametrize("family", sorted(SMALL_SPACES))
def test_exported_free_candidate_equals_supernet_path(family: str, tmp_path: Path) -> None:
    seed = fresh_seed()
    rule = get_rule("cafenet", offset=2)
    space = rule.make_space(family, 4, 1, **SMALL_SPACES[family])
    supernet = trained_supernet(space, "ua", seed)
    rng = random.Random(seed)
    widths = tuple(rng.randint(1, 3) for _ in range(space.num_groups))  # every group has a choice
    choices = rule.choices(space, widths, rng)
    path = choices[rng.randrange(len(choices))][0]
    out = export_path(supernet, space, "cafenet", path, tmp_path / "e", onnx=False)
    x = sample_input(space, 2, seed)
    with torch.no_grad():
        want = supernet(x, selections(space, path))
        got = load_exported(out)(x)
    err = (want - got).abs().max().item()
    assert err <= 1e-5, f"seed={seed} {family} {path.bins}: max err {err}"


def test_trained_cafenet_supernet_scores_and_exports_its_best_candidate(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "sn", epochs=1)
    cfg["rule"], cfg["complementary"] = "cafenet", False
    cfg["rule_options"] = {"offset": 1, "candidates": 4}
    train_supernet(cfg)
    loaded = load_supernet(tmp_path / "sn" / "checkpoint.pt")
    space, scorer = loaded.ctx.space, loaded.scorer
    widths = (2,) * space.num_groups
    chosen = scorer.chosen_paths(widths)
    info = scorer.choice_info(widths)
    assert info["candidates"] == 4 and info["select"] == "loss"
    assert chosen[0].side == min(info["values"], key=info["values"].get)
    out = export_width(loaded, widths, tmp_path / "export", onnx=False)
    arch = read_json(out / "arch.json")
    assert arch["rule"] == "cafenet" and arch["path"] == chosen[0].side
    assert arch["bins_used"] == [list(b) for b in chosen[0].bins]
    assert arch["minmin"]["offset"] == 1 and "free-channel candidates" in arch["path_choice"]
    x = loaded.ctx.held_x[:8]
    with torch.no_grad():
        want = loaded.supernet.eval()(x, selections(space, chosen[0]))
        got = load_exported(out)(x.cpu())
    assert (want - got).abs().max().item() <= 1e-5

    # select by score: every candidate recalibrated, the best held-out score wins
    by_score = WidthScorer(loaded.supernet, space, get_rule("cafenet", offset=1, candidates=4,
                                                            select="score"),
                           loaded.ctx.recal_x, loaded.ctx.held_x, loaded.ctx.held_y, 2, 64)
    info = by_score.choice_info(widths)
    best = max(info["values"], key=info["values"].get)
    assert by_score.chosen_paths(widths)[0].side == best
    assert by_score.score(widths) == pytest.approx(info["values"][best])

    # scoring options may change after training (more candidates, more recalibration) ...
    more = load_supernet(tmp_path / "sn" / "checkpoint.pt", recal_batches=3,
                         rule_options={"candidates": 8, "select": "score"})
    assert more.ctx.rule.candidates == 8 and more.ctx.rule.offset == 1
    assert len(more.scorer.recal) == 3 and more.scorer.choice_info(widths)["candidates"] == 8
    assert more.scorer.choice_info(widths)["select"] == "score"
    # ... what the weights were trained with may not
    with pytest.raises(SlimnasError, match="'offset' cannot change after training"):
        load_supernet(tmp_path / "sn" / "checkpoint.pt", rule_options={"offset": 2})
    with pytest.raises(SlimnasError, match="recal_batches"):
        load_supernet(tmp_path / "sn" / "checkpoint.pt", recal_batches=0)


def test_fairness_counts_refuse_a_minmin_rule() -> None:
    from slimnas.width.fairness import bin_usage

    with pytest.raises(SlimnasError, match="training loss"):
        bin_usage("cafenet", 4, 1, 10)
