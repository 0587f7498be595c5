"""The baselines of `slimnas.baselines`: closed-form MACs of any net, uniform scaling, TP."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from slimnas.baselines import (
    MAX_PRUNING_RATIO,
    _classifier,
    _pruned_copy,
    closed_form_macs,
    reinitialised,
    tp_prune,
    uniform_scaled,
    uniform_steps,
    widest_uniform,
)
from slimnas.errors import SlimnasError
from slimnas.width.own import trace_spec

pytestmark = pytest.mark.usefixtures("single_thread")

NETS = {"cbm-mobilenet": 28, "cbm-resnet": 8}  # family: input size (width_mult 0.25, 1 ch)


def _full_net(family: str) -> nn.Module:
    from slimnas.width.net import build_supernet, extract
    from slimnas.width.sharing import get_rule

    rule = get_rule("ua")
    space = rule.make_space(family, 4, 1, width_mult=0.25, input_size=NETS[family],
                            in_channels=1)
    torch.manual_seed(0)
    return extract(build_supernet(space), space, rule.paths(space, space.max_widths())[0]).eval()


def _input(family: str) -> torch.Tensor:
    size = NETS[family]
    return torch.randn(2, 1, size, size, generator=torch.Generator().manual_seed(1))


def _flop_counter_macs(net: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x[:1])
    return counter.get_total_flops() // 2


def _state(net: nn.Module) -> dict:
    return {k: v.clone() for k, v in net.state_dict().items()}


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)


def _group_channels(net: nn.Module, x: torch.Tensor) -> tuple[tuple[str, ...], tuple[int, ...]]:
    spec = trace_spec(net, x[:1])
    return spec.group_names, spec.base_channels


class _Odd(nn.Module):
    """Odd channel counts, biased convs and a flatten -> Linear classifier."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 7, 3, padding=1)
        self.bn = nn.BatchNorm2d(7)
        self.c2 = nn.Conv2d(7, 5, 3, stride=2, padding=1)
        self.fc = nn.Linear(5 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.c2(torch.relu(self.bn(self.c1(x))))).flatten(1))


@pytest.fixture(scope="module")
def nets():
    return {f: (_full_net(f), _input(f)) for f in NETS}


@pytest.fixture(scope="module")
def pruned(nets):
    """{(family, global): (net before, its state before, pruned, ratio, MACs, window)}."""
    out = {}
    for family, (net, x) in nets.items():
        full = closed_form_macs(net, x)
        window = (int(0.45 * full), int(0.5 * full))
        for global_pruning in (False, True):
            before = _state(net)
            result = tp_prune(net, x, *window, global_pruning)
            out[family, global_pruning] = (net, before, *result, window)
    return out


# -- closed-form MACs ---------------------------------------------------------------------

@pytest.mark.parametrize("family", NETS)
def test_closed_form_macs_of_the_full_and_uniform_nets(nets, family):
    net, x = nets[family]
    assert closed_form_macs(net, x) == _flop_counter_macs(net, x)
    for m in (0.37, 0.8):
        scaled = uniform_scaled(net, m, x)
        assert closed_form_macs(scaled, x) == _flop_counter_macs(scaled, x)


def test_closed_form_macs_of_odd_channel_counts():
    net, x = _Odd(), torch.randn(2, 1, 8, 8)
    assert closed_form_macs(net, x) == _flop_counter_macs(net, x) == \
        8 * 8 * 9 * 7 + 4 * 4 * 9 * 7 * 5 + 80 * 3


@pytest.mark.parametrize("family", NETS)
@pytest.mark.parametrize("global_pruning", [False, True], ids=["local", "global"])
def test_closed_form_macs_of_pruned_nets(nets, pruned, family, global_pruning):
    _, x = nets[family]
    _, _, net, _, macs, _ = pruned[family, global_pruning]
    assert closed_form_macs(net, x) == _flop_counter_macs(net, x) == macs


# -- uniform scaling ----------------------------------------------------------------------

@pytest.mark.parametrize("family", NETS)
def test_uniform_scaled_scales_every_group(nets, family):
    net, x = nets[family]
    before = _state(net)
    names, base = _group_channels(net, x)
    for m in (0.01, 0.3, 0.5, 0.77, 1.0):
        scaled = uniform_scaled(net, m, x)
        got_names, got = _group_channels(scaled, x)
        assert got_names == names
        assert got == tuple(max(1, int(np.floor(m * c + 0.5))) for c in base)
        out = scaled(x)
        assert out.shape == net(x).shape and torch.isfinite(out).all()
    assert _same_state(before, net.state_dict())


def test_uniform_scaled_is_fresh_and_seeded(nets):
    net, x = nets["cbm-mobilenet"]
    a, b = uniform_scaled(net, 1.0, x), uniform_scaled(net, 1.0, x)
    assert _same_state(a.state_dict(), b.state_dict())  # deterministic
    assert not _same_state(a.state_dict(), uniform_scaled(net, 1.0, x, seed=1).state_dict())
    assert not _same_state(a.state_dict(), net.state_dict())  # fresh weights, same shapes
    assert all(a.state_dict()[k].shape == v.shape for k, v in net.state_dict().items())


def test_uniform_scaled_rejects_bad_multipliers(nets):
    net, x = nets["cbm-resnet"]
    for m in (0, -0.5, 1.5, True):
        with pytest.raises(SlimnasError, match="multiplier"):
            uniform_scaled(net, m, x)


@pytest.mark.parametrize("family", NETS)
def test_uniform_steps_are_every_distinct_vector(nets, family):
    net, x = nets[family]
    steps = uniform_steps(net, x)
    _, base = _group_channels(net, x)
    ms = [m for m, _, _ in steps]
    assert ms == sorted(ms) and ms[-1] == 1.0 and steps[-1][1] == base
    assert steps[0][1] == (1,) * len(base)
    vectors = [v for _, v, _ in steps]
    assert len(set(vectors)) == len(vectors)
    for (_, v, macs), (_, w, wider) in zip(steps, steps[1:], strict=False):
        assert all(a <= b for a, b in zip(v, w, strict=True)) and macs < wider
    # a fine grid of multipliers finds no vector the steps miss
    grid = {tuple(max(1, int(np.floor(m * c + 0.5))) for c in base)
            for m in np.linspace(1e-4, 1, 20001)}
    assert grid <= set(vectors)


@pytest.mark.parametrize("family", NETS)
def test_widest_uniform_is_the_widest_in_the_window(nets, family):
    net, x = nets[family]
    before = _state(net)
    full = closed_form_macs(net, x)
    low, high = int(0.27 * full), int(0.3 * full)
    scaled, m, macs = widest_uniform(net, x, low, high)
    assert low <= macs <= high
    assert closed_form_macs(scaled, x) == _flop_counter_macs(scaled, x) == macs
    assert scaled(x).shape == net(x).shape
    steps = uniform_steps(net, x)
    i = [s[0] for s in steps].index(m)
    assert steps[i][2] == macs
    assert i == len(steps) - 1 or steps[i + 1][2] > high  # the next wider one is out
    assert _same_state(before, net.state_dict())


def test_widest_uniform_errors(nets):
    net, x = nets["cbm-resnet"]
    steps = uniform_steps(net, x)
    with pytest.raises(SlimnasError, match="no uniform width multiplier"):
        widest_uniform(net, x, 0, steps[0][2] - 1)  # below the narrowest
    (_, _, a), (_, _, b) = next((s, t) for s, t in zip(steps, steps[1:], strict=False)
                                if t[2] - s[2] > 2)
    with pytest.raises(SlimnasError, match=r"\(below\).*\(above\)"):
        widest_uniform(net, x, a + 1, b - 1)  # between two neighbours
    with pytest.raises(SlimnasError, match="window"):
        widest_uniform(net, x, 10, 5)


# -- Torch-Pruning ------------------------------------------------------------------------

@pytest.mark.parametrize("family", NETS)
@pytest.mark.parametrize("global_pruning", [False, True], ids=["local", "global"])
def test_tp_prune_lands_in_the_window(nets, pruned, family, global_pruning):
    _, x = nets[family]
    net, before, small, ratio, macs, (low, high) = pruned[family, global_pruning]
    assert low <= macs <= high
    assert macs >= 0.95 * high  # aims at the window's top
    assert 0 < ratio <= MAX_PRUNING_RATIO
    assert _same_state(before, net.state_dict())  # the input is untouched
    assert small is not net
    assert not small.training
    with torch.no_grad():
        out = small(x)
    assert out.shape == net(x).shape and torch.isfinite(out).all()
    # the classifier keeps its outputs and the trained weights of its remaining inputs
    head, full_head = small.head, net.head
    assert head.out_features == full_head.out_features > 0
    assert head.in_features < full_head.in_features
    assert torch.equal(head.bias, full_head.bias)
    for column in head.weight.T:
        assert any(torch.equal(column, c) for c in full_head.weight.T)


@pytest.mark.parametrize("family", NETS)
def test_local_pruning_is_even_and_global_is_not(nets, pruned, family):
    net, x = nets[family]
    names, base = _group_channels(net, x)
    spread = {}
    for global_pruning in (False, True):
        got_names, kept = _group_channels(pruned[family, global_pruning][2], x)
        assert got_names == names
        fractions = [k / c for k, c in zip(kept, base, strict=True)]
        spread[global_pruning] = max(fractions) - min(fractions)
    assert spread[False] <= 1 / min(base)  # int(C * (1 - ratio)) of every group
    assert spread[True] > 0.1


def test_global_pruning_caps_every_group(nets):
    net, x = nets["cbm-mobilenet"]
    _, base = _group_channels(net, x)
    spec = trace_spec(net, x[:1])
    # Torch-Pruning alone leaves a group its global threshold would empty at full width
    small = _pruned_copy(net, x[:1], 0.9, True, _classifier(spec), 0.9)
    _, kept = _group_channels(small, x)
    assert all(max(1, int(c * 0.1)) <= k < c for k, c in zip(kept, base, strict=True))
    assert any(k == max(1, int(c * 0.1)) for k, c in zip(kept, base, strict=True))


def test_tp_prune_is_deterministic(nets):
    net, x = nets["cbm-resnet"]
    full = closed_form_macs(net, x)
    a, ra, ma = tp_prune(net, x, int(0.2 * full), int(0.25 * full), True)
    b, rb, mb = tp_prune(net, x, int(0.2 * full), int(0.25 * full), True)
    assert (ra, ma) == (rb, mb) and _same_state(a.state_dict(), b.state_dict())


def test_tp_prune_windows(nets):
    net, x = nets["cbm-resnet"]
    full = closed_form_macs(net, x)
    same, ratio, macs = tp_prune(net, x, full - 10, full + 10, False)  # already inside
    assert (ratio, macs) == (0.0, full) and same is not net
    assert _same_state(same.state_dict(), net.state_dict())
    with pytest.raises(SlimnasError, match="pruning only lowers"):
        tp_prune(net, x, full + 1, full + 10, False)
    with pytest.raises(SlimnasError, match="at the largest ratio"):
        tp_prune(net, x, 0, 1000, True)
    with pytest.raises(SlimnasError, match="window"):
        tp_prune(net, x, 10, 5, True)


# -- reinitialised ------------------------------------------------------------------------

def test_train_mode_nets_keep_their_mode_and_statistics():
    net, x = _full_net("cbm-resnet").train(), _input("cbm-resnet")
    before = _state(net)
    spec = trace_spec(net, x[:1])
    for out in (uniform_scaled(net, 0.5, x), reinitialised(net, 3),
                _pruned_copy(net, x[:1], 0.5, False, _classifier(spec), 0.9)):
        assert out.training and net.training
    assert closed_form_macs(net, x) > 0
    assert _same_state(before, net.state_dict())  # no forward moved its BN statistics


def test_reinitialised_is_fresh_seeded_and_leaves_the_input():
    net, x = _full_net("cbm-mobilenet"), _input("cbm-mobilenet")
    with torch.no_grad():
        for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.add_(0.5)
    before = _state(net)
    rng = torch.get_rng_state()
    a, b, c = reinitialised(net, 1), reinitialised(net, 1), reinitialised(net, 2)
    assert torch.equal(rng, torch.get_rng_state())  # the global random state is untouched
    assert _same_state(before, net.state_dict())
    assert _same_state(a.state_dict(), b.state_dict())
    assert not _same_state(a.state_dict(), c.state_dict())
    sa = a.state_dict()
    for name, value in before.items():
        assert sa[name].shape == value.shape
        if name.endswith(("conv.weight", "head.weight", "running_mean")):
            assert not torch.equal(sa[name], value), name
    assert all(torch.equal(m.running_mean, torch.zeros_like(m.running_mean))
               for m in a.modules() if isinstance(m, nn.BatchNorm2d))
    assert a(x).shape == net(x).shape
