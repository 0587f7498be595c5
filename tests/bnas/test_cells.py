"""Ops, MixedOp with partial channels, edge normalisation, search networks."""

import pytest
import torch

from slimnas.bnas.genotype import PRIMITIVES, derive_genotype, num_edges
from slimnas.bnas.ops import channel_shuffle, make_op
from slimnas.bnas.search_cell import MixedOp, SearchCell, edge_softmax
from slimnas.bnas.search_net import SearchNetwork, SearchSpec


class ReferenceMixedOp(torch.nn.Module):
    """DARTS' MixedOp written out plainly: sum_o w_o * o(x) over every primitive."""

    def __init__(self, channels, stride):
        super().__init__()
        self.ops = torch.nn.ModuleList(make_op(p, channels, stride, affine=False)
                                       for p in PRIMITIVES)

    def forward(self, x, weights):
        out = torch.zeros(())
        for w, op in zip(weights, self.ops, strict=True):
            out = out + w * op(x)
        return out


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_keeps_channels_and_maps_to_ceil_size(stride, size):
    x = torch.randn(2, 8, size, size)
    for p in PRIMITIVES:
        for affine in (False, True):
            y = make_op(p, 8, stride, affine)(x)
            assert y.shape == (2, 8, -(-size // stride), -(-size // stride)), (p, affine)


@pytest.mark.parametrize("stride", [1, 2])
def test_partial_channels_k1_equals_the_full_mixed_op(stride):
    torch.manual_seed(0)
    pc = MixedOp(8, stride, partial=1).train()
    ref = ReferenceMixedOp(8, stride).train()
    ref.load_state_dict(pc.state_dict(), strict=False)
    x = torch.randn(4, 8, 6, 6)
    w = torch.softmax(torch.randn(len(PRIMITIVES)), -1)
    torch.testing.assert_close(pc(x, w), ref(x, w), rtol=0, atol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_partial_channels_k4_mixes_a_quarter_and_shuffles(stride):
    torch.manual_seed(0)
    pc = MixedOp(16, stride, partial=4).train()
    ref = ReferenceMixedOp(4, stride).train()
    ref.load_state_dict(pc.state_dict(), strict=False)
    x = torch.randn(3, 16, 6, 6)
    w = torch.softmax(torch.randn(len(PRIMITIVES)), -1)
    rest = x[:, 4:] if stride == 1 else torch.nn.functional.max_pool2d(x[:, 4:], 2, 2)
    want = channel_shuffle(torch.cat([ref(x[:, :4], w), rest], 1), 4)
    torch.testing.assert_close(pc(x, w), want, rtol=0, atol=1e-6)
    assert pc(x, w).shape == (3, 16, 6 // stride, 6 // stride)


def test_channel_shuffle_is_the_expected_permutation():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert torch.equal(channel_shuffle(x, 1), x)


def test_equal_betas_scale_each_node_by_its_incoming_edges():
    torch.manual_seed(0)
    nodes = 4
    cell = SearchCell(nodes, 8, 8, 8, reduction=False, reduction_prev=False).train()
    weights = torch.softmax(torch.randn(num_edges(nodes), len(PRIMITIVES)), -1)
    betas = torch.full((num_edges(nodes),), 0.37)  # equal betas, any value
    edge = edge_softmax(betas, nodes)
    states = [torch.randn(2, 8, 5, 5), torch.randn(2, 8, 5, 5)]
    for i in range(nodes):
        with torch.no_grad():
            plain = cell.node(i, states, weights)
            normed = cell.node(i, states, weights, edge)
        torch.testing.assert_close(normed, plain / (i + 2), rtol=1e-6, atol=1e-6)
        states.append(torch.randn(2, 8, 5, 5))
    # and the same genotype, whatever the alphas
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        probs = {c: torch.softmax(torch.randn(num_edges(nodes), len(PRIMITIVES), generator=g),
                                  -1).tolist() for c in ("normal", "reduce")}
        equal = {c: edge.tolist() for c in ("normal", "reduce")}
        assert derive_genotype(probs, nodes, equal) == derive_genotype(probs, nodes)


@pytest.mark.parametrize("spec", [
    SearchSpec(net="bcnn", channels=4, nodes=2),
    SearchSpec(net="bcnn", channels=4, nodes=2, blocks=3, enhancement_cells=2),
    SearchSpec(net="bcnn", channels=4, nodes=2, partial_channels=4, edge_norm=True),
    SearchSpec(net="bcnn", channels=4, nodes=2, layout="compact"),
    SearchSpec(net="bcnn", channels=4, nodes=2, blocks=3, enhancement_cells=2,
               layout="compact"),
    SearchSpec(net="bcnn", channels=4, nodes=2, partial_channels=4, edge_norm=True,
               layout="compact"),
    SearchSpec(net="bcnn", channels=4, nodes=2, blocks=1, enhancement_cells=2),
    SearchSpec(net="darts", channels=4, nodes=2, cells=4),
], ids=["bcnn", "bcnn-3-blocks", "bcnn-pc", "bcnn-compact", "bcnn-3-blocks-compact",
        "bcnn-pc-compact", "bcnn-1-block", "darts"])
def test_search_networks_run_and_separate_weights_from_alphas(spec):
    torch.manual_seed(0)
    net = SearchNetwork(spec)
    x = torch.randn(2, 1, 9, 9)  # odd: every path must agree on ceil sizes
    net(x).sum().backward()
    arch = net.arch_parameters()
    assert len(arch) == (4 if spec.edge_norm else 2)
    assert all(a.grad is not None for a in arch)
    weight_ids = {id(p) for p in net.weight_parameters()}
    assert not weight_ids & {id(a) for a in arch}
    assert len(weight_ids) + len(arch) == len(list(net.parameters()))
    assert net.genotype().nodes == 2


def test_bcnn_wiring_matches_the_paper():
    net = SearchNetwork(SearchSpec(net="bcnn", channels=16, in_channels=3))
    body = net.body
    assert body.stem[0].out_channels == 48  # 3C
    assert [c.reduction for c in body.cells] == [True, True]  # one reduction cell per block
    assert [c.kind for c in body.cells] == ["normal", "normal"]
    assert [c.kind for c in body.enhance] == ["reduce"] and not body.enhance[0].reduction
    assert len(body.broad) == 2 and len(body.to_enhance) == 2
    # broad features: the block inputs (stem at 32, block 1 output at 16) reach 8 x 8
    assert [len(s) - 1 for s in body.broad] == [2, 1]
    assert [len(s) - 1 for s in body.to_enhance] == [1, 0]
    # released layout (test_layout.py): broad C + 2C, the enhancement output at 16C
    assert body.classifier.in_features == 16 + 32 + 256
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 10)


def test_partial_channels_must_divide():
    with pytest.raises(ValueError, match="divide"):
        MixedOp(6, 1, partial=4)
