"""The user's model as a supernet: its own forward on any channel selection, equal to the
plain copy `extract_own` makes of that path, with FLOPs and params the closed form's."""

import random

import pytest
import torch
from own_models import ResidualSEConcatNet, random_path, randomise_bn
from torch.utils.flop_counter import FlopCounterMode

from slimnas.flops import cost_model
from slimnas.width.own import trace_spec
from slimnas.width.own.supernet import OwnSupernet, extract_own


def _count(sel) -> int:
    return sel.stop - sel.start if isinstance(sel, slice) else len(sel)


@pytest.fixture(scope="module")
def model_and_spec():
    torch.manual_seed(0)
    model = randomise_bn(ResidualSEConcatNet()).eval()
    return model, trace_spec(model, torch.zeros(1, 3, 16, 16))


def test_the_full_path_is_the_users_model(model_and_spec):
    model, spec = model_and_spec
    supernet = OwnSupernet(model, spec, spec.base_channels).eval()
    x = torch.randn(4, 3, 16, 16)
    assert torch.equal(supernet(x), model(x))
    assert torch.equal(supernet(x, (None,) * spec.num_groups), model(x))


@pytest.mark.parametrize("widen", [1.0, 1.25], ids=["model width", "enlarged"])
@pytest.mark.parametrize("kind", ["left", "right", "indices"])
def test_every_path_exports_to_an_equal_plain_copy(model_and_spec, widen, kind):
    model, spec = model_and_spec
    channels = [int(c * widen) for c in spec.base_channels]
    supernet = OwnSupernet(model, spec, channels).eval()
    costs = cost_model(spec)
    rng = random.Random(f"{widen}{kind}")
    x = torch.randn(4, 3, 16, 16)
    for _ in range(4):
        path = random_path(channels, rng, kind)
        plain = extract_own(supernet, path)
        assert not any(type(m).__name__.startswith("Slim") for m in plain.modules())
        assert (supernet(x, path) - plain(x)).abs().max() <= 1e-5
        counts = [_count(s) for s in path]
        with FlopCounterMode(display=False) as counter:
            plain(x[:1])
        assert costs.macs(counts) == counter.get_total_flops() // 2
        assert costs.params(counts) == sum(p.numel() for p in plain.parameters())


def test_an_enlarged_supernet_keeps_the_trained_weights_in_its_first_channels(model_and_spec):
    model, spec = model_and_spec
    channels = [c + 4 for c in spec.base_channels]
    supernet = OwnSupernet(model, spec, channels).eval()
    left = tuple(slice(0, c) for c in spec.base_channels)  # the model's own channels
    x = torch.randn(2, 3, 16, 16)
    assert (supernet(x, left) - model(x)).abs().max() <= 1e-6
    fuse = supernet.model.fuse
    assert fuse.weight.shape[:2] == (28, 28)  # 24 + 4 out; (12 + 4) + (8 + 4) in
    # the model's channels keep their places (both concat parts); the new ones come after
    assert torch.equal(fuse.weight[:24, :20], model.fuse.weight)
    assert torch.equal(supernet.model.bn5.running_var[24:], torch.ones(4))


def test_training_mode_updates_only_the_paths_bn_statistics(model_and_spec):
    model, spec = model_and_spec
    supernet = OwnSupernet(model, spec, spec.base_channels).train()
    path = tuple(slice(0, max(1, c // 2)) for c in spec.base_channels)
    bn = supernet.model.bn5
    before = bn.running_mean.clone()
    supernet(torch.randn(8, 3, 16, 16), path)
    assert not torch.equal(bn.running_mean[:12], before[:12])
    assert torch.equal(bn.running_mean[12:], before[12:])
    assert len(supernet.bn_modules()) == 6
