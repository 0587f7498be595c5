"""The model zoo: torchvision's names, shapes and parameter counts; traced groups and
closed-form costs equal to flop_counter; every path of the supernet exports exactly."""

import math
import random

import pytest
import torch
from own_models import random_path, randomise_bn
from torch.utils.flop_counter import FlopCounterMode

from slimnas.errors import SlimnasError
from slimnas.flops import cost_model
from slimnas.width.own import trace_spec
from slimnas.width.own.supernet import OwnSupernet, extract_own
from slimnas.zoo import get_model, zoo_names
from slimnas.zoo.layers import StochasticDepth

pytestmark = pytest.mark.usefixtures("single_thread")  # small inputs: one thread is fastest

# torchvision's published parameter counts at 1000 classes, and state_dict entries we know
TORCHVISION = {
    "resnet18": (11_689_512, {
        "conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,),
        "layer1.0.conv1.weight": (64, 64, 3, 3), "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer2.0.downsample.1.bias": (128,), "layer4.1.bn2.running_var": (512,),
        "fc.weight": (1000, 512), "fc.bias": (1000,)}),
    "resnet50": (25_557_032, {
        "conv1.weight": (64, 3, 7, 7), "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.conv3.weight": (256, 64, 1, 1), "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer2.0.conv2.weight": (128, 128, 3, 3), "layer3.5.bn3.num_batches_tracked": (),
        "layer4.2.conv3.weight": (2048, 512, 1, 1), "fc.weight": (1000, 2048)}),
    "mobilenet_v2": (3_504_872, {
        "features.0.0.weight": (32, 3, 3, 3), "features.0.1.weight": (32,),
        "features.1.conv.0.0.weight": (32, 1, 3, 3), "features.1.conv.1.weight": (16, 32, 1, 1),
        "features.1.conv.2.running_mean": (16,), "features.2.conv.0.0.weight": (96, 16, 1, 1),
        "features.2.conv.1.0.weight": (96, 1, 3, 3), "features.2.conv.2.weight": (24, 96, 1, 1),
        "features.17.conv.3.bias": (320,), "features.18.0.weight": (1280, 320, 1, 1),
        "classifier.1.weight": (1000, 1280)}),
    "vgg16_bn": (138_365_992, {
        "features.0.weight": (64, 3, 3, 3), "features.0.bias": (64,),
        "features.1.running_var": (64,), "features.3.weight": (64, 64, 3, 3),
        "features.7.weight": (128, 64, 3, 3), "features.40.weight": (512, 512, 3, 3),
        "features.41.weight": (512,), "classifier.0.weight": (4096, 25088),
        "classifier.3.weight": (4096, 4096), "classifier.6.weight": (1000, 4096)}),
    "efficientnet_b0": (5_288_548, {
        "features.0.0.weight": (32, 3, 3, 3), "features.1.0.block.0.0.weight": (32, 1, 3, 3),
        "features.1.0.block.1.fc1.weight": (8, 32, 1, 1), "features.1.0.block.1.fc1.bias": (8,),
        "features.1.0.block.1.fc2.weight": (32, 8, 1, 1),
        "features.1.0.block.2.0.weight": (16, 32, 1, 1),
        "features.2.0.block.0.0.weight": (96, 16, 1, 1),
        "features.2.0.block.1.0.weight": (96, 1, 3, 3),
        "features.2.0.block.2.fc1.weight": (4, 96, 1, 1),
        "features.3.0.block.1.0.weight": (144, 1, 5, 5),
        "features.8.0.weight": (1280, 320, 1, 1), "features.8.1.running_mean": (1280,),
        "classifier.1.weight": (1000, 1280)}),
}
# searchable groups at 32x32 (classifier outputs frozen): stem and residual streams share
GROUPS = {"resnet18": 12,  # stem+stage 1, 3 later streams, 8 block insides
          "resnet50": 37,  # stem, 4 streams, 32 block insides
          "mobilenet_v2": 25,  # stem, 7 streams, 16 expansions, the head
          "vgg16_bn": 15, "vgg16_bn_cifar": 13,  # every conv, the 2 hidden Linears
          "efficientnet_b0": 24}  # stem, 7 streams, 15 expansions, head (SE squeezes follow)


def test_the_zoo_lists_every_model():
    assert zoo_names() == sorted(GROUPS)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_names_shapes_and_parameter_counts(name):
    torch.manual_seed(0)
    model = get_model(name)
    count, shapes = TORCHVISION[name]
    assert sum(p.numel() for p in model.parameters()) == count
    state = model.state_dict()
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    copy = get_model(f"zoo:{name}")  # a state_dict of this layout loads strictly
    copy.load_state_dict(state, strict=True)
    assert all(torch.equal(v, state[k]) for k, v in copy.state_dict().items())


def test_options_and_bad_names_are_clear():
    model = get_model("zoo:resnet18", num_classes=7, in_channels=1).eval()
    assert model.conv1.weight.shape == (64, 1, 7, 7)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    with pytest.raises(SlimnasError, match="unknown zoo model 'resnet19'; known: eff"):
        get_model("resnet19")
    with pytest.raises(SlimnasError, match="unknown zoo model"):
        get_model("zoo:")
    with pytest.raises(SlimnasError, match="'resnet18' has no option 'width'; options: in_"):
        get_model("resnet18", width=2)
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(SlimnasError, match="num_classes must be a positive integer"):
            get_model("mobilenet_v2", num_classes=bad)


def test_weights_start_as_torchvisions():
    torch.manual_seed(0)
    model = get_model("mobilenet_v2")
    conv = model.features[18][0]  # 1x1, 320 -> 1280: kaiming normal, fan_out
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 1280), rel=0.05)
    bn = model.features[18][1]
    assert torch.equal(bn.weight, torch.ones(1280)) and torch.equal(bn.bias, torch.zeros(1280))
    fc = model.classifier[1]
    assert fc.weight.std().item() == pytest.approx(0.01, rel=0.05) and not fc.bias.any()
    fc = get_model("efficientnet_b0", num_classes=100).classifier[1]
    assert fc.weight.abs().max().item() <= 0.1 and not fc.bias.any()  # U(+-1/sqrt(100))


def test_stochastic_depth_drops_whole_samples_only_while_training():
    drop = StochasticDepth(0.5)
    x = torch.ones(64, 3, 2, 2)
    assert drop.eval()(x) is x
    y = drop.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    model = get_model("efficientnet_b0", num_classes=3).train()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


@pytest.fixture(scope="module")
def traced():
    """{name: (model, spec)} at 10 classes, traced on 32x32, built on first use."""
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            model = randomise_bn(get_model(name, num_classes=10), scale=0.1).eval()
            cache[name] = model, trace_spec(model, torch.zeros(1, 3, 32, 32))
        return cache[name]
    yield get
    cache.clear()


def _writers(spec, module_suffix: str = "") -> dict[int, set[str]]:
    """{group: the layers writing its channels (dim "out"), conv / Linear only}."""
    kinds = {layer.name: layer.kind for layer in spec.layers}
    out: dict[int, set[str]] = {}
    for b in spec.bindings:
        if b.dim == "out" and kinds[b.module] != "bn" and b.module.endswith(module_suffix):
            out.setdefault(b.group, set()).add(b.module)
    return out


def _group_of(spec, module: str) -> int:
    (group,) = {b.group for b in spec.bindings if b.module == module and b.dim == "out"}
    return group


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_traced_costs_equal_flop_counter(traced, name):
    model, spec = traced(name)
    assert spec.num_groups == GROUPS[name]
    assert len(spec.frozen) == 1 and "the classifier's outputs" in spec.frozen[0]
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 32, 32))
    costs = cost_model(spec)
    assert costs.macs(spec.base_channels) == counter.get_total_flops() // 2
    assert costs.params(spec.base_channels) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "last"), [("resnet18", "conv2"), ("resnet50", "conv3")])
def test_resnet_residual_streams_are_one_group_each(traced, name, last):
    model, spec = traced(name)
    writers = _writers(spec)
    for stage in range(1, 5):
        blocks = len(getattr(model, f"layer{stage}"))
        stream = {f"layer{stage}.{i}.{last}" for i in range(blocks)}
        stream.add("conv1" if name == "resnet18" and stage == 1
                   else f"layer{stage}.0.downsample.0")
        assert writers[_group_of(spec, f"layer{stage}.0.{last}")] == stream
    # every other conv (resnet50's stem too) is a group of its own
    assert sorted(len(w) for w in writers.values()) == [1] * (GROUPS[name] - 4) + sorted(
        len(getattr(model, f"layer{s}")) + 1 for s in range(1, 5))


def test_mobilenet_and_efficientnet_streams_expansions_and_gates(traced):
    _, spec = traced("mobilenet_v2")
    writers = _writers(spec)
    assert writers[_group_of(spec, "features.2.conv.2")] == {"features.2.conv.2",
                                                             "features.3.conv.2"}
    assert writers[_group_of(spec, "features.0.0")] == {"features.0.0", "features.1.conv.0.0"}
    assert writers[_group_of(spec, "features.2.conv.0.0")] == {"features.2.conv.0.0",
                                                               "features.2.conv.1.0"}
    _, spec = traced("efficientnet_b0")
    writers = _writers(spec)
    assert writers[_group_of(spec, "features.6.0.block.3.0")] == {
        f"features.6.{i}.block.3.0" for i in range(4)}
    # the SE gate's fc2 scales the expanded channels: it writes into their group
    assert writers[_group_of(spec, "features.2.0.block.0.0")] == {
        "features.2.0.block.0.0", "features.2.0.block.1.0", "features.2.0.block.2.fc2"}
    # the SE squeeze (4 channels) follows the 96 channels it gates, as 16 followers do
    squeeze = spec.follower_of("features.2.0.block.2.fc1", "out")
    assert squeeze.channels == 4 and squeeze.group == _group_of(spec, "features.2.0.block.0.0")
    assert len({f.module for f in spec.followers}) == 32  # fc1 out and fc2 in, 16 SEs


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_supernet_paths_export_to_equal_plain_copies(traced, name):
    model, spec = traced(name)
    supernet = OwnSupernet(model, spec, spec.base_channels).eval()
    costs = cost_model(spec)
    rng = random.Random(name)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(supernet(x), model(x))
        for kind in ("right", "indices"):
            path = random_path(spec.base_channels, rng, kind)
            plain = extract_own(supernet, path)
            want, got = supernet(x, path), plain(x)
            assert (want - got).abs().max() <= 1e-5 * max(1.0, want.abs().max().item())
            counts = [s.stop - s.start if isinstance(s, slice) else len(s) for s in path]
            with FlopCounterMode(display=False) as counter:
                plain(x[:1])
            assert costs.macs(counts) == counter.get_total_flops() // 2
            assert costs.params(counts) == sum(p.numel() for p in plain.parameters())
            del plain


# vgg16_bn's 25088 x 4096 Linear would make a 400 MB ONNX file: its CIFAR variant stands in
@pytest.mark.parametrize("name", [n for n in zoo_names() if n != "vgg16_bn"])
def test_export_with_onnx_and_reload_from_a_fresh_instance(tmp_path, name):
    import numpy as np
    import onnxruntime as ort

    from slimnas.width.export import export_path, load_exported
    from slimnas.width.net import build_supernet, selections
    from slimnas.width.own import from_model
    from slimnas.width.sharing import get_rule

    torch.manual_seed(0)
    model = randomise_bn(get_model(name, num_classes=10), scale=0.1)
    space = from_model(model, torch.zeros(1, 3, 32, 32), bins=2, enlarge=True, name=name)
    supernet = build_supernet(space).eval()
    rule = get_rule("cafenet")  # free channels: any index set per group
    path = rule.choices(space, space.sample(random.Random(1)), random.Random(2))[-1][0]
    out = export_path(supernet, space, "cafenet", path, tmp_path / "m")
    x = torch.randn(2, 3, 32, 32)
    expected = supernet(x, selections(space, path)).detach()
    net = load_exported(out, model=get_model(name, num_classes=10))
    assert (net(x) - expected).abs().max() <= 1e-5
    got = ort.InferenceSession(str(out / "model.onnx")).run(None, {"input": x.numpy()})[0]
    assert np.abs(got - expected.numpy()).max() <= 1e-4
