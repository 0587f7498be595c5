"""The closed-form cost model == counting the extracted plain network.

params: exactly the number of parameters of the extracted net.
MACs: exactly half of what torch's FlopCounterMode reports for the convolutions and the
final Linear (it counts 2 FLOPs per multiply-accumulate).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from slimnas.flops import cost_model, width_costs
from slimnas.width.net import WidthNet, build_supernet, extract
from slimnas.width.sharing import get_rule
from slimnas.width.space import WidthSpace

# defaults (the real spaces) and a small variant with odd input sizes / other options
SPACES = {
    "cbm-mobilenet": [{}, dict(width_mult=0.3, input_size=15, in_channels=1, num_classes=7)],
    "cbm-resnet": [{}, dict(width_mult=0.2, input_size=17, in_channels=2, num_classes=5)],
    "mobilenetv2": [{}, dict(width_mult=0.35, input_size=13, in_channels=1, num_classes=100)],
    "resnet": [{}, dict(depth=32, width_mult=0.5, input_size=11, in_channels=1)],
    "plaincnn": [{}, dict(depth=5, width=10, input_size=9, in_channels=4, num_classes=3)],
}
CASES = [(family, i) for family in sorted(SPACES) for i in range(len(SPACES[family]))]
CONV_OPS = ("convolution",)
LINEAR_OPS = ("addmm", "mm")


pytestmark = pytest.mark.usefixtures("single_thread")


def sample_widths(space: WidthSpace, seed: int, n: int = 10) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    return [space.min_widths(), space.max_widths()] + [space.sample(rng) for _ in range(n)]


def counted_macs(net: WidthNet) -> tuple[int, int]:
    """(conv MACs, Linear MACs) of one eval-mode forward on a batch of 1, by FlopCounterMode."""
    spec = net.spec
    x = torch.zeros(1, spec.in_channels, spec.input_size, spec.input_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x)
    totals = counter.get_flop_counts()["Global"]
    conv = linear = 0
    for op, flops in totals.items():
        name = str(op).split(".")[-1]
        if name in CONV_OPS:
            conv += flops
        elif name in LINEAR_OPS:
            linear += flops
    assert conv % 2 == 0 and linear % 2 == 0
    return conv // 2, linear // 2


@pytest.mark.parametrize("rule_name", ["ua", "bcnetv2"])
@pytest.mark.parametrize(("family", "variant"), CASES)
def test_cost_model_matches_extracted_net(family: str, variant: int, rule_name: str) -> None:
    seed = random.SystemRandom().randrange(2**31)
    options = SPACES[family][variant]
    rule = get_rule(rule_name)
    space = rule.make_space(family, 4, 2 if rule_name == "bcnetv2" else 1, **options)
    torch.manual_seed(seed)
    supernet = build_supernet(space).eval()
    model = cost_model(space.spec)
    for widths in sample_widths(space, seed):
        for path in rule.paths(space, widths):
            msg = f"seed={seed} {family} {options} {rule_name} widths={widths} side={path.side}"
            net = extract(supernet, space, path).eval()
            counts = net.channels
            assert counts == space.channels_of(widths), msg

            params = sum(p.numel() for p in net.parameters())
            assert model.params(counts) == params, msg

            conv, linear = counted_macs(net)
            head = net.head
            assert linear == head.in_features * head.out_features, msg
            assert head.in_features == counts[space.spec.head_in], msg
            assert model.macs(counts) == conv + linear, msg

            costs = width_costs(space, widths)
            assert costs == {"flops_macs": conv + linear, "params": params}, msg


@pytest.mark.parametrize(("family", "variant"), CASES)
def test_batch_evaluation_matches_scalar(family: str, variant: int) -> None:
    seed = random.SystemRandom().randrange(2**31)
    space = get_rule("ua").make_space(family, 8, 1, **SPACES[family][variant])
    model = cost_model(space.spec)
    widths = sample_widths(space, seed, 50)
    channels = np.array([space.channels_of(w) for w in widths], dtype=np.int64)
    macs, params = model.macs_batch(channels), model.params_batch(channels)
    for i, ch in enumerate(channels.tolist()):
        assert int(macs[i]) == model.macs(ch), f"seed={seed} {ch}"
        assert int(params[i]) == model.params(ch), f"seed={seed} {ch}"


def test_known_values_plaincnn() -> None:
    """Hand count: 3x3 convs 3->4 (8x8), 4->6 stride 2 (4x4), Linear 6->10."""
    space = get_rule("ua").make_space("plaincnn", 1, 1, depth=2, width=4, input_size=8)
    model = cost_model(space.spec)
    macs = 9 * 3 * 4 * 64 + 9 * 4 * 6 * 16 + 6 * 10
    params = 9 * 3 * 4 + 2 * 4 + 9 * 4 * 6 + 2 * 6 + 6 * 10 + 10
    assert model.macs((4, 6)) == macs
    assert model.params((4, 6)) == params
