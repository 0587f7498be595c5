"""`round_to` for the built-in width spaces: every bin a multiple of r channels."""

from __future__ import annotations

import pytest
import torch
from conftest import SMALL_SPACES, tiny_config
from torch import nn

from slimnas.bench.cbm import bench_space
from slimnas.config import load_config
from slimnas.data import load_split
from slimnas.errors import SlimnasError
from slimnas.io import atomic_torch_save
from slimnas.width.checkpoint import load_supernet
from slimnas.width.context import make_space
from slimnas.width.export import export_path, load_exported, read_arch
from slimnas.width.flops_bins import flops_sensitive_bins
from slimnas.width.net import build_supernet, selections
from slimnas.width.sharing import get_rule
from slimnas.width.sharing.base import left_path
from slimnas.width.space import WidthSpace
from slimnas.width.spaces import build_spec, family_names, get_space
from slimnas.width.train import FORMAT, _check_compatible

pytestmark = pytest.mark.usefixtures("single_thread")


def test_every_family_is_covered():
    assert set(family_names()) == set(SMALL_SPACES)


def _check_bins(space: WidthSpace, r: int) -> None:
    for g in range(space.num_groups):
        assert space.channels[g] % (space.bins[g] * r) == 0, (g, space.channels)
        for j in range(space.bins[g]):
            lo, hi = space.bin_range(g, j, j + 1)
            assert hi > lo and (hi - lo) % r == 0, (space.spec.family, g, j, lo, hi)
    for widths in (space.min_widths(), space.max_widths()):
        assert all(c % r == 0 for c in space.channels_of(widths))


@pytest.mark.parametrize("family", sorted(SMALL_SPACES))
@pytest.mark.parametrize("rule_name", ["ua", "bcnetv2"])  # plain and enlarged (BCNetV2)
def test_every_bin_is_a_multiple_of_round_to(family, rule_name):
    rule = get_rule(rule_name)
    opts = SMALL_SPACES[family]
    for r in (8, 16) if family == "plaincnn" else (8,):
        space = rule.make_space(family, 4, 1, round_to=r, **opts)
        assert space.enlarge == rule.enlarges and space.round_to == r
        _check_bins(space, r)
        assert space.describe()["round_to"] == r
        assert "round_to" not in space.spec.options  # not a family option
    plain = rule.make_space(family, 4, 1, **opts)
    one = rule.make_space(family, 4, 1, round_to=1, **opts)
    assert one.channels == plain.channels and one.bins == plain.bins
    assert one.full_channels == plain.full_channels and one.describe() == plain.describe()
    assert plain.round_to == 1


def test_full_width_rounds_to_the_nearest_multiple_of_bins_times_r():
    space = get_space("plaincnn", bins=4, width=44, round_to=8)  # 44 / 32 -> 1
    assert space.full_channels == (32, 32, 32)
    space = get_space("plaincnn", bins=4, width=52, round_to=8)  # 52 / 32 -> 2
    assert space.full_channels == (64, 64, 64)
    space = get_space("plaincnn", bins=2, width=3, round_to=16)  # at least K0 * r
    assert space.full_channels == (32, 32, 32)
    wide = get_space("plaincnn", bins=2, min_bins=1, width=3, round_to=16, enlarge=True)
    assert wide.channels == (48, 48, 48) and wide.bins == (3, 3, 3)


@pytest.mark.parametrize("family", ["cbm-mobilenet", "resnet", "plaincnn"])
def test_flops_bins_keep_bins_a_multiple_of_round_to(family):
    opts = SMALL_SPACES[family]
    for enlarge in (False, True):
        for r in (4, 8):
            space = get_space(family, bins=4, min_bins=1, enlarge=enlarge, flops_bins=True,
                              round_to=r, **opts)
            _check_bins(space, r)
            for c, k in zip(space.full_channels, space.group_base_bins, strict=True):
                assert c % (k * r) == 0
        default = get_space(family, bins=4, enlarge=enlarge, flops_bins=True, **opts)
        one = get_space(family, bins=4, enlarge=enlarge, flops_bins=True, round_to=1, **opts)
        assert one.channels == default.channels and one.bins == default.bins


def test_flops_sensitive_bins_pick_only_bins_of_a_multiple_of_round_to():
    spec = build_spec("plaincnn", depth=3, input_size=8)
    channels = [44, 4, 40]  # multiples of K0 x r = 2 x 2
    assert flops_sensitive_bins(spec, channels, 2, 2) == (4, 2, 2)  # 44 / 4: 11 channels
    assert flops_sensitive_bins(spec, channels, 2, 2, round_to=1) == (4, 2, 2)
    fit = flops_sensitive_bins(spec, channels, 2, 2, round_to=2)
    assert fit == (2, 2, 2) and all(c % (k * 2) == 0 for c, k in zip(channels, fit, strict=True))


@torch.no_grad()
def test_supernet_runs_and_exports_multiples_of_round_to(tmp_path):
    r = 8
    rule = get_rule("bcnetv2")
    space = rule.make_space("cbm-mobilenet", 4, 1, round_to=r, **SMALL_SPACES["cbm-mobilenet"])
    spec = space.spec
    torch.manual_seed(0)
    supernet = build_supernet(space).eval()
    x = torch.randn(2, spec.in_channels, spec.input_size, spec.input_size)
    for widths in (space.min_widths(), space.max_widths()):
        for path in rule.paths(space, widths):
            assert supernet(x, selections(space, path)).shape == (2, spec.num_classes)
    widths = (1, 2, 3, 4, 1, 2, 3)
    path = rule.paths(space, widths)[-1]
    out = export_path(supernet, space, "bcnetv2", path, tmp_path / "e", onnx=False)
    arch = read_arch(out)
    assert arch["round_to"] == r and "round_to" not in arch["options"]
    assert all(c % r == 0 for c in arch["channel_counts"])
    net = load_exported(out)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.out_channels % r == 0 for m in convs)
    assert all(m.in_channels % r == 0 for m in convs if m.in_channels != spec.in_channels)
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert linear and linear[0].in_features % r == 0
    assert (net(x) - supernet(x, selections(space, path))).abs().max() <= 1e-5
    # a uniform space exports as before: round_to 1
    plain = rule.make_space("plaincnn", 4, 1, **SMALL_SPACES["plaincnn"])
    out = export_path(build_supernet(plain), plain, "bcnetv2",
                      left_path(plain, plain.max_widths()), tmp_path / "p", onnx=False)
    assert read_arch(out)["round_to"] == 1


@pytest.mark.parametrize("bad", [0, -8, True, False, 2.0, 8.5, "8", None])
def test_bad_round_to_is_one_clear_error(bad):
    with pytest.raises(SlimnasError, match=r"^round_to must be an integer >= 1, got "):
        get_space("plaincnn", round_to=bad)
    with pytest.raises(SlimnasError, match=r"^round_to must be an integer >= 1, got "):
        WidthSpace(build_spec("plaincnn"), 4, round_to=bad)


def _config(tmp_path, round_to):
    extra = "" if round_to is None else f", round_to: {round_to}"
    return load_config(None, [f"out={tmp_path}",
                              f"space={{name: cbm-mobilenet, width_mult: 0.25{extra}}}"])


def test_config_space_round_to_builds_through_make_space(tmp_path):
    cfg = _config(tmp_path, 8)
    assert cfg["space"]["round_to"] == 8 and cfg["data"]["name"] == "digits"
    data = load_split(cfg)[0]
    space, rule = make_space(cfg, data)
    assert rule.enlarges and space.round_to == 8  # the default rule: bcnetv2
    assert "round_to" not in space.spec.options
    _check_bins(space, 8)
    default, _ = make_space(_config(tmp_path, None), data)
    one, _ = make_space(_config(tmp_path, 1), data)
    assert one.channels == default.channels and default.round_to == 1
    assert default.describe() == one.describe()
    for bad in (0, "eight", True):
        cfg = load_config(None, [f"out={tmp_path}", f"space.round_to={bad}"])
        with pytest.raises(SlimnasError, match="round_to must be an integer >= 1"):
            make_space(cfg, data)


def test_checkpoint_and_resume_refuse_another_round_to(tmp_path):
    cfg = tiny_config(tmp_path)
    eight = tiny_config(tmp_path)
    eight["space"]["round_to"] = 8
    with pytest.raises(SlimnasError, match="other settings: space.round_to"):
        _check_compatible({"config": cfg}, eight)
    with pytest.raises(SlimnasError, match="other settings: space.round_to"):
        _check_compatible({"config": eight}, cfg)
    _check_compatible({"config": eight}, eight)
    # a checkpoint whose space description says round_to 8 but whose config rebuilds 1
    ckpt = tmp_path / "fake.pt"
    described = {**get_space("cbm-resnet", width_mult=0.0625, round_to=8).describe()}
    atomic_torch_save({"format": FORMAT, "config": cfg, "space": described, "model": {}}, ckpt)
    with pytest.raises(SlimnasError, match="round_to 8, its config rebuilds round_to 1"):
        load_supernet(ckpt)


def test_channel_bench_macro_refuses_round_to():
    assert bench_space("mobilenet", round_to=1).channels == bench_space("mobilenet").channels
    for name in ("mobilenet", "cbm-resnet"):
        with pytest.raises(SlimnasError, match="exact channel counts: round_to must be 1"):
            bench_space(name, round_to=8)
