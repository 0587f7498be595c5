"""Channel groups traced from a model: exactly the hand-written groups of the built-in
spaces, FLOPs equal to torch.utils.flop_counter / 2, clear refusals."""

import random

import pytest
import torch
from own_models import DictOutputNet, GroupedConvNet, LooseParameterNet, ResidualSEConcatNet
from torch.utils.flop_counter import FlopCounterMode

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.width.net import WidthNet
from slimnas.width.own import trace_spec
from slimnas.width.spaces import get_space

BUILT_IN = [("cbm-mobilenet", {"width_mult": 0.25}), ("cbm-resnet", {"width_mult": 0.25}),
            ("mobilenetv2", {}), ("resnet", {}), ("plaincnn", {})]


def _conv_groups(spec) -> dict[str, int]:
    """{WidthNet conv module name: its output group} from a hand-written NetSpec."""
    out = {}
    for i, block in enumerate(spec.blocks):
        for j, conv in enumerate(block.convs):
            out[f"blocks.{i}.convs.{j}.conv"] = conv.cout
        if block.shortcut_conv() is not None:
            out[f"blocks.{i}.shortcut.conv"] = block.cout
    return out


@pytest.mark.parametrize(("family", "options"), BUILT_IN, ids=[f for f, _ in BUILT_IN])
def test_traced_groups_and_costs_equal_the_hand_written_spec(family, options):
    spec = get_space(family, bins=4, min_bins=1, in_channels=3, input_size=32,
                     num_classes=10, **options).spec
    net = WidthNet(spec, list(spec.base_channels), dynamic=False)
    traced = trace_spec(net, torch.zeros(1, 3, 32, 32))
    assert traced.num_groups == spec.num_groups
    assert traced.frozen == ("head: the classifier's outputs",)
    owner = _conv_groups(spec)
    mapping = []  # traced group -> hand-written group, by the convs writing each
    for g in range(traced.num_groups):
        writers = {owner[b.module] for b in traced.bindings
                   if b.group == g and b.dim == "out" and b.module in owner}
        assert len(writers) == 1, (traced.group_names[g], writers)
        mapping.append(writers.pop())
    assert sorted(mapping) == list(range(spec.num_groups))
    assert [spec.base_channels[h] for h in mapping] == list(traced.base_channels)
    hand, ours = cost_model(spec), cost_model(traced)
    rng = random.Random(0)
    vectors = [[1] * spec.num_groups, list(spec.base_channels)]
    vectors += [[rng.randint(1, c) for c in spec.base_channels] for _ in range(20)]
    for ch in vectors:
        mine = [ch[h] for h in mapping]
        assert (ours.macs(mine), ours.params(mine)) == (hand.macs(ch), hand.params(ch))


def test_residual_se_concat_flatten_model_costs_equal_flop_counter():
    model = ResidualSEConcatNet()
    x = torch.zeros(1, 3, 16, 16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = trace_spec(model, x)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # untouched
    assert model.training  # and still in training mode
    # stem + dw + pw + residual are one group (SE's hidden width follows it); both concat
    # parts; fuse; fc1
    assert spec.group_names == ("stem", "main", "side", "fuse", "fc1")
    assert spec.base_channels == (16, 12, 8, 24, 32)
    assert {(f.module, f.dim, f.group, f.channels) for f in spec.followers} == {
        ("se.reduce", "out", 0, 4), ("se.expand", "in", 0, 4)}
    searched = trace_spec(model, x, se="search")
    assert searched.group_names == ("stem", "se.reduce", "main", "side", "fuse", "fc1")
    assert searched.followers == ()
    assert {b.module for b in spec.bindings if b.group == 0} >= {"stem", "dw", "pw", "bn2",
                                                                  "se.expand", "main", "side"}
    fuse_in = {b.group: b.index for b in spec.bindings if b.module == "fuse" and b.dim == "in"}
    assert fuse_in == {1: tuple(range(12)), 2: tuple(range(12, 20))}  # concat offsets
    fc1_in = [b for b in spec.bindings if b.module == "fc1" and b.dim == "in"]
    assert len(fc1_in) == 1 and len(fc1_in[0].index) == 24 * 4  # flatten: 4 features each
    with FlopCounterMode(display=False) as counter:
        model(x)
    for traced in (spec, searched):
        model_cost = cost_model(traced)
        assert model_cost.macs(traced.base_channels) == counter.get_total_flops() // 2
        assert model_cost.params(traced.base_channels) == sum(p.numel() for p in model.parameters())


def test_grouped_convs_are_kept_at_full_width_and_named():
    spec = trace_spec(GroupedConvNet(), torch.zeros(1, 3, 8, 8))
    assert "grouped: a grouped conv (2 groups)" in spec.frozen
    assert "grouped" not in spec.group_names and "stem" not in spec.group_names
    assert spec.group_names == ("head",)
    with FlopCounterMode(display=False) as counter:
        GroupedConvNet()(torch.zeros(1, 3, 8, 8))
    assert cost_model(spec).macs(spec.base_channels) == counter.get_total_flops() // 2


def test_a_parameter_used_outside_a_layer_keeps_its_channels_and_is_named():
    import slimnas

    model = LooseParameterNet()
    spec = trace_spec(model, torch.zeros(1, 3, 8, 8))
    assert spec.group_names == ("c2",)
    assert "scale: a parameter used outside a layer" in spec.frozen
    space = slimnas.from_model(model, torch.zeros(1, 3, 8, 8), bins=2)  # runs at every width
    assert space.group_names == ("c2",)
    assert cost_model(spec).params(spec.base_channels) == sum(
        p.numel() for p in model.parameters())


def test_ignore_keeps_a_group_at_full_width_and_bad_names_are_refused():
    spec = trace_spec(ResidualSEConcatNet(), torch.zeros(1, 3, 16, 16), ignore=["side"])
    assert "side" not in spec.group_names and "side: ignored" in spec.frozen
    with pytest.raises(SlimnasError, match="no module 'nope'"):
        trace_spec(ResidualSEConcatNet(), torch.zeros(1, 3, 16, 16), ignore=["nope"])


def test_models_that_cannot_be_traced_get_one_clear_error():
    with pytest.raises(SlimnasError, match="one \\(batch, classes\\) tensor"):
        trace_spec(DictOutputNet(), torch.zeros(1, 3, 8, 8))
    with pytest.raises(SlimnasError, match="fails on the example input: RuntimeError"):
        trace_spec(ResidualSEConcatNet(in_channels=1), torch.zeros(1, 3, 16, 16))
