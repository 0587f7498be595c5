"""Memory savings of the search network that must not change its function: one shared
ReLU output per input tensor, and no padded copy in factorized reductions at even sizes."""

import contextlib

import pytest
import torch
import torch.nn.functional as F

import slimnas.bnas.search_net as search_net_module
from slimnas.bnas.ops import FactorizedReduce, ReLU, shared_relu
from slimnas.bnas.search_net import SearchNetwork, SearchSpec

pytestmark = pytest.mark.usefixtures("single_thread")


def test_shared_relu_computes_once_per_input_tensor() -> None:
    a, b = ReLU(), ReLU()
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    assert a(x) is not b(x)  # outside the block: plain ReLUs
    with shared_relu():
        out = a(x)
        assert b(x) is out and a(x) is out
        assert torch.equal(out, F.relu(x))
        assert b(y) is not out and torch.equal(b(y), F.relu(y))
        assert b(x.clone()) is not out  # a different tensor, even with equal values
    assert a(x) is not out


def _grads_and_saved_bytes(spec: SearchSpec, share: bool):
    torch.manual_seed(0)
    net = SearchNetwork(spec)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 16, 16, generator=g)
    y = torch.randint(0, 10, (4,), generator=g)
    storages: dict[int, int] = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    ctx = contextlib.nullcontext if not share else shared_relu
    old = search_net_module.shared_relu
    search_net_module.shared_relu = ctx
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = F.cross_entropy(net(x), y)
    finally:
        search_net_module.shared_relu = old
    params = [*net.weight_parameters(), *net.arch_parameters()]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return float(loss.detach()), grads, sum(storages.values())


@pytest.mark.parametrize("spec", [
    SearchSpec(net="bcnn", in_channels=3, channels=8),
    SearchSpec(net="bcnn", in_channels=3, channels=8, partial_channels=4, edge_norm=True),
    SearchSpec(net="darts", in_channels=3, channels=8, cells=3),
], ids=["bnas-d", "bnas-v2-pc", "darts"])
def test_sharing_keeps_loss_and_gradients_and_saves_memory(spec) -> None:
    loss0, grads0, bytes0 = _grads_and_saved_bytes(spec, share=False)
    loss1, grads1, bytes1 = _grads_and_saved_bytes(spec, share=True)
    assert loss1 == pytest.approx(loss0, rel=1e-6)
    for g0, g1 in zip(grads0, grads1, strict=True):
        assert (g0 is None) == (g1 is None)
        if g0 is not None:
            torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-6)
    assert bytes1 < 0.85 * bytes0  # one ReLU output per state, not one per op and edge


@pytest.mark.parametrize("size", [8, 9, 7])
def test_factorized_reduce_without_padding_copy_equals_the_padded_form(size) -> None:
    torch.manual_seed(0)
    fr = FactorizedReduce(6, 8).train()
    x = torch.randn(3, 6, size, size)
    r = F.relu(x)
    padded = F.pad(r, (0, 1, 0, 1))[:, :, 1:, 1:]  # the DARTS form, for every size
    ref = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(padded)], dim=1))
    torch.testing.assert_close(fr(x), ref, rtol=0, atol=0)
    assert fr(x).shape[-1] == -(-size // 2)
