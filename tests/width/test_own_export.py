"""Export of a slimmed user's model: arch.json + weights + ONNX, reloaded from a fresh
instance of the model, equal to the supernet path."""

import json
import random

import numpy as np
import pytest
import torch
from own_models import ResidualSEConcatNet, randomise_bn

import slimnas
from slimnas.errors import SlimnasError
from slimnas.width.export import export_path, load_exported
from slimnas.width.net import build_supernet, selections
from slimnas.width.sharing import get_rule


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = randomise_bn(ResidualSEConcatNet())
    space = slimnas.from_model(model, torch.zeros(1, 3, 16, 16), bins=4, enlarge=True)
    return space, build_supernet(space).eval()


@pytest.mark.parametrize(("rule_name", "side"), [("bcnetv2", "right"), ("cafenet", None)])
def test_export_reloads_from_a_fresh_model_and_equals_the_supernet_path(trained, tmp_path,
                                                                          rule_name, side):
    space, supernet = trained
    rule = get_rule(rule_name)
    widths = space.sample(random.Random(3))
    choices = rule.choices(space, widths, random.Random(0))
    path = choices[-1][-1] if side is None else next(
        p for p in choices[0] if p.side == side)
    out = export_path(supernet, space, rule_name, path, tmp_path / "m", onnx=(side is None))
    arch = json.loads((out / "arch.json").read_text())
    assert arch["space"] == "own" and "layers" in arch and arch["path"] == path.side
    net = load_exported(out, model=ResidualSEConcatNet())
    x = torch.randn(4, 3, 16, 16)
    expected = supernet(x, selections(space, path))
    assert (net(x) - expected).abs().max() <= 1e-5
    assert arch["params"] == sum(p.numel() for p in net.parameters())
    if side is None:
        import onnxruntime as ort

        session = ort.InferenceSession(str(out / "model.onnx"))
        got = session.run(None, {"input": x.numpy()})[0]
        assert np.abs(got - expected.detach().numpy()).max() <= 1e-4


def test_reloading_needs_the_model_and_the_right_one(trained, tmp_path):
    space, supernet = trained
    path = get_rule("ua").paths(space, space.max_widths())[0]
    out = export_path(supernet, space, "ua", path, tmp_path / "m", onnx=False)
    with pytest.raises(SlimnasError, match="pass model= a fresh instance"):
        load_exported(out)
    with pytest.raises(SlimnasError, match="is it the model that was slimmed"):
        load_exported(out, model=torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))
