"""`extract` == the supernet path (eval and train mode); dynamic BN running-stat write-back."""

from __future__ import annotations

import random
import zlib

import pytest
import torch
from conftest import SMALL_SPACES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from slimnas.width.dynamic import DynamicBatchNorm2d
from slimnas.width.net import WidthNet, build_supernet, extract, selections
from slimnas.width.sharing import get_rule
from slimnas.width.space import PathSpec, WidthSpace

SPACES = SMALL_SPACES
RULES = ("ua", "bcnet", "bcnetv2")
_SUPERNETS: dict[tuple[str, str, int], tuple[WidthSpace, WidthNet]] = {}


pytestmark = pytest.mark.usefixtures("single_thread")


def supernet_for(family: str, rule_name: str, bins: int) -> tuple[WidthSpace, WidthNet]:
    """One supernet per (family, rule, bins), with random BN affine params, built once."""
    key = (family, rule_name, bins)
    if key not in _SUPERNETS:
        space = get_rule(rule_name).make_space(family, bins, 1, **SPACES[family])
        torch.manual_seed(zlib.crc32(repr(key).encode()))
        net = build_supernet(space)
        with torch.no_grad():
            for bn in net.bn_modules():
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_(0.0, 0.2)
                bn.running_mean.normal_(0.0, 0.1)
                bn.running_var.uniform_(0.5, 2.0)
        _SUPERNETS[key] = space, net
    return _SUPERNETS[key]


def free_path(space: WidthSpace, widths: tuple[int, ...], rng: random.Random) -> PathSpec:
    """Any c bins of each group (not necessarily contiguous): index-tensor selections."""
    bins = tuple(tuple(sorted(rng.sample(range(k), c))) for c, k in zip(widths, space.bins,
                                                                        strict=True))
    return PathSpec(widths, bins, "free")


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    family=st.sampled_from(sorted(SPACES)),
    rule_name=st.sampled_from(RULES),
    bins=st.integers(2, 4),
    seed=st.integers(0, 2**31 - 1),
)
def test_extract_equals_supernet_path(family: str, rule_name: str, bins: int, seed: int) -> None:
    space, supernet = supernet_for(family, rule_name, bins)
    rng = random.Random(seed)
    widths = space.sample(rng)
    spec = space.spec
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, spec.in_channels, spec.input_size, spec.input_size, generator=gen)
    paths = get_rule(rule_name).paths(space, widths) + [free_path(space, widths, rng)]
    for path in paths:
        msg = f"{family} {rule_name} bins={bins} widths={widths} side={path.side}"
        sels = selections(space, path)
        supernet.eval()
        plain = extract(supernet, space, path).eval()
        assert plain.channels == tuple(len(b) * space.channels[g] // space.bins[g]
                                       for g, b in enumerate(path.bins)), msg
        with torch.no_grad():
            err = max_err(supernet(x, sels), plain(x))
        assert err <= 1e-5, f"eval: {msg}: {err}"

        # train mode: both normalise with the batch's statistics and update running stats
        saved = {k: v.clone() for k, v in supernet.state_dict().items()}
        supernet.train()
        plain.train()
        try:
            with torch.no_grad():
                err = max_err(supernet(x, sels), plain(x))
            assert err <= 1e-5, f"train: {msg}: {err}"
            again = extract(supernet, space, path)
            for name, buf in plain.named_buffers():
                if name.endswith("running_mean") or name.endswith("running_var"):
                    err = max_err(buf, again.get_buffer(name))
                    assert err <= 1e-6, f"running stats {name}: {msg}: {err}"
        finally:
            supernet.load_state_dict(saved)
            supernet.eval()


def bn_reference(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
                 momentum: float | None) -> nn.BatchNorm2d:
    ref = nn.BatchNorm2d(x.shape[1], momentum=momentum)
    with torch.no_grad():
        ref.running_mean.copy_(mean)
        ref.running_var.copy_(var)
    ref.train()
    ref(x)
    return ref


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("kind", ["slice", "index"])
def test_dynamic_bn_updates_only_selected_running_stats(kind: str, momentum: float | None) -> None:
    torch.manual_seed(0)
    bn = DynamicBatchNorm2d(10, momentum=momentum)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_()
    chosen = [2, 3, 4, 5] if kind == "slice" else [0, 3, 4, 8]
    sel = slice(2, 6) if kind == "slice" else torch.tensor(chosen)
    rest = [c for c in range(10) if c not in chosen]
    mean0, var0 = bn.running_mean.clone(), bn.running_var.clone()
    x = torch.randn(6, 4, 5, 5) * 3 + 1
    bn.train()
    out = bn(x, sel)

    ref = bn_reference(x, mean0[chosen], var0[chosen], momentum)
    with torch.no_grad():
        ref.weight.copy_(bn.weight[chosen])
        ref.bias.copy_(bn.bias[chosen])
        want = nn.functional.batch_norm(x, None, None, ref.weight, ref.bias, True, 0.0, ref.eps)
    assert max_err(out, want) <= 1e-5
    assert not torch.equal(bn.running_mean[chosen], mean0[chosen])
    assert torch.allclose(bn.running_mean[chosen], ref.running_mean, atol=1e-6)
    assert torch.allclose(bn.running_var[chosen], ref.running_var, atol=1e-6)
    assert torch.equal(bn.running_mean[rest], mean0[rest])
    assert torch.equal(bn.running_var[rest], var0[rest])
    assert int(bn.num_batches_tracked) == 1

    # eval mode never touches running stats
    mean1, var1 = bn.running_mean.clone(), bn.running_var.clone()
    bn.eval()
    bn(x, sel)
    assert torch.equal(bn.running_mean, mean1) and torch.equal(bn.running_var, var1)
    assert int(bn.num_batches_tracked) == 1


def test_dynamic_bn_two_selections_accumulate_independently() -> None:
    """A second step on an overlapping index selection updates from the first one's stats."""
    torch.manual_seed(1)
    bn = DynamicBatchNorm2d(6).train()
    x1, x2 = torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4) + 2
    bn(x1, slice(0, 3))
    after1 = bn.running_mean.clone(), bn.running_var.clone()
    idx = torch.tensor([1, 2, 5])
    bn(x2, idx)
    ref = bn_reference(x2, after1[0][idx], after1[1][idx], 0.1)
    assert torch.allclose(bn.running_mean[idx], ref.running_mean, atol=1e-6)
    assert torch.allclose(bn.running_var[idx], ref.running_var, atol=1e-6)
    assert torch.equal(bn.running_mean[[0, 3, 4]], after1[0][[0, 3, 4]])
