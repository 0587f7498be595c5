"""A second min-min rule is one file: a toy rule plugs into training, scoring and export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from slimnas.io import read_json
from slimnas.width.checkpoint import export_width, load_supernet
from slimnas.width.export import load_exported
from slimnas.width.net import selections
from slimnas.width.sharing import RULES, CandidateJudge, SharingRule, get_rule, rule_names
from slimnas.width.sharing.base import left_path, right_path
from slimnas.width.space import PathSpec, WidthSpace
from slimnas.width.train import train_supernet

pytestmark = pytest.mark.usefixtures("single_thread")


class LeftOrRightRule(SharingRule):
    """Each width is its left OR its right path, whichever has the lower loss."""

    name = "toy-left-or-right"
    minmin = True
    scoring_options = ("batches",)

    def __init__(self, batches: int = 1):
        self.batches = batches

    def paths(self, space: WidthSpace, widths: Sequence[int]) -> list[PathSpec]:
        return [left_path(space, space.validate(widths))]

    def choices(self, space, widths, rng=None) -> list[list[PathSpec]]:
        w = space.validate(widths)
        return [[left_path(space, w)], [right_path(space, w)]]

    def choose(self, choices: list[list[PathSpec]], judge: CandidateJudge) -> tuple[int, dict]:
        losses = judge.losses(choices, self.batches)
        best = min(range(len(choices)), key=losses.__getitem__)
        return best, {"toy_batches": self.batches,
                      "toy_losses": {c[0].side: v for c, v in zip(choices, losses, strict=True)}}

    def choice_reason(self, info: dict) -> str | None:
        return f"the lower-loss side on {info['toy_batches']} batches"


@pytest.fixture
def toy_rule():
    with RULES.registered(LeftOrRightRule) as rule:
        yield rule.name


def test_toy_rule_is_registered_for_the_test_only(toy_rule: str) -> None:
    assert toy_rule in rule_names()
    assert get_rule(toy_rule, batches=2).batches == 2


def test_toy_minmin_rule_trains_scores_and_exports(toy_rule: str, tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "sn", epochs=1, eval_every=0)
    cfg["rule"], cfg["complementary"], cfg["rule_options"] = toy_rule, False, {"batches": 1}
    cfg["data"]["subset"] = 256  # a few steps are enough to show the plumbing
    train_supernet(cfg)
    loaded = load_supernet(tmp_path / "sn" / "checkpoint.pt", rule_options={"batches": 2})
    space, scorer = loaded.ctx.space, loaded.scorer
    assert loaded.ctx.rule.batches == 2  # a scoring option of the plug-in changed after training
    widths = (2, 1, 3, 2, 1, 3, 2)
    info = scorer.choice_info(widths)
    losses = info["toy_losses"]
    assert info["toy_batches"] == 2 and set(losses) == {"left", "right"}
    (chosen,) = scorer.chosen_paths(widths)
    assert chosen.side == min(losses, key=losses.get)
    assert scorer.score(widths) == scorer.score_paths(widths)[chosen.side]

    out = export_width(loaded, widths, tmp_path / "export", onnx=False)
    arch = read_json(out / "arch.json")
    assert arch["rule"] == toy_rule and arch["path"] == chosen.side
    assert arch["minmin"] == info
    assert arch["path_choice"] == "the lower-loss side on 2 batches"
    assert arch["bins_used"] == [list(b) for b in chosen.bins]
    x = loaded.ctx.held_x[:8]
    with torch.no_grad():
        want = loaded.supernet.eval()(x, selections(space, chosen))
        got = load_exported(out)(x.cpu())
    assert (want - got).abs().max().item() <= 1e-5


def test_unregistered_toy_rule_is_unknown() -> None:
    assert LeftOrRightRule.name not in rule_names()
