"""WidthSpace: bins partition channels, enlargement, keys, complement, sampling."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slimnas.errors import SlimnasError
from slimnas.width.sampler import WidthSampler
from slimnas.width.space import WidthSpace
from slimnas.width.spaces import get_space


def plain(bins: int, min_bins: int = 1, enlarge: bool = False, depth: int = 3,
          width: int = 16) -> WidthSpace:
    return get_space("plaincnn", bins=bins, min_bins=min_bins, enlarge=enlarge, depth=depth,
                     width=width)


def _check_partition(space: WidthSpace, group: int) -> None:
    c, k = space.channels[group], space.bins[group]
    seen = [0] * c
    sizes = []
    for j in range(k):
        lo, hi = space.bin_range(group, j, j + 1)
        sizes.append(hi - lo)
        for ch in space.bin_channels(group, [j]):
            seen[ch] += 1
    assert seen == [1] * c  # every channel in exactly one bin
    assert max(sizes) - min(sizes) <= 1
    assert space.bin_range(group, 0, k) == (0, c)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 300), st.integers(1, 24))
def test_bins_partition_any_channel_count(channels: int, bins: int) -> None:
    # the space rounds C to a multiple of K; override to exercise the formula for any C >= K
    channels = max(channels, bins)
    space = copy.copy(plain(bins, depth=1))
    space.channels = (channels,)
    space.bins = (bins,)
    _check_partition(space, 0)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200), st.integers(1, 16), st.data())
def test_bins_partition_real_spaces(width: int, k0: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(1, k0))
    enlarge = data.draw(st.booleans())
    space = plain(k0, m, enlarge, depth=2, width=width)
    for g in range(space.num_groups):
        _check_partition(space, g)
        assert space.channels[g] % space.bins[g] == 0  # equal-sized bins


@pytest.mark.parametrize("k0, m", [(4, 1), (20, 2), (8, 8), (1, 1), (10, 3)])
def test_enlarge_widens_by_ratio(k0: int, m: int) -> None:
    width = 6 * k0
    base = plain(k0, m, enlarge=False, width=width)
    big = plain(k0, m, enlarge=True, width=width)
    assert base.channels == (width,) * 3
    assert big.full_channels == base.full_channels == (width,) * 3
    for c0, c1 in zip(base.channels, big.channels, strict=True):
        assert c1 * k0 == c0 * (k0 + m)  # exactly (K0 + m) / K0 wider
    assert big.bins == (k0 + m,) * 3 and base.bins == (k0,) * 3
    assert big.c_min == base.c_min == (m,) * 3
    assert big.c_max == base.c_max == (k0,) * 3
    # a bin is the same number of channels in both
    assert big.bin_range(0, 0, 1) == base.bin_range(0, 0, 1)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16), st.integers(2, 4), st.data())
def test_key_parse_round_trip(k0: int, depth: int, data: st.DataObject) -> None:
    space = plain(k0, 1, depth=depth, width=2 * k0)
    widths = tuple(data.draw(st.integers(1, k0)) for _ in range(depth))
    key = space.key(widths)
    assert space.parse(key) == widths
    assert space.parse(list(widths)) == widths
    if max(widths) >= 10:
        assert "-" in key and key.split("-") == [str(w) for w in widths]
    else:
        assert key == "".join(map(str, widths))
        assert space.parse(int(key)) == widths


def test_key_round_trip_single_group_wide() -> None:
    space = plain(12, 1, depth=1, width=24)
    assert space.parse(space.key((10,))) == (10,)


def test_key_examples() -> None:
    space = plain(12, 1, depth=3, width=24)
    assert space.key((1, 12, 3)) == "1-12-3"
    assert space.parse("1-12-3") == (1, 12, 3)
    assert space.parse(" 1-12-3 ") == (1, 12, 3)
    assert space.key((1, 2, 3)) == "123"
    assert space.parse(123) == (1, 2, 3)


@pytest.mark.parametrize("bad, match", [
    ((1, 2), "2 entries"),
    ((1, 2, 3, 4), "4 entries"),
    ((0, 2, 3), "outside"),
    ((1, 5, 3), "outside"),
])
def test_validate_errors(bad: tuple[int, ...], match: str) -> None:
    space = plain(4, 1, depth=3)
    with pytest.raises(SlimnasError, match=match):
        space.validate(bad)


@pytest.mark.parametrize("key", ["12a", "1-x-3", "1.5"])
def test_parse_malformed(key: str) -> None:
    with pytest.raises(SlimnasError, match="malformed width key"):
        plain(4, 1, depth=3).parse(key)


def test_min_width_is_enforced() -> None:
    space = plain(8, 3, enlarge=True, depth=2, width=16)
    with pytest.raises(SlimnasError, match="outside"):
        space.validate((2, 5))
    with pytest.raises(SlimnasError, match="outside"):
        space.validate((9, 5))  # 9 is a bin of the supernet but not a legal width


@pytest.mark.parametrize("bins, min_bins, match", [(0, 1, "bins"), (4, 0, "min-bins"),
                                                   (4, 5, "min-bins")])
def test_space_constructor_errors(bins: int, min_bins: int, match: str) -> None:
    with pytest.raises(SlimnasError, match=match):
        plain(bins, min_bins)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.data())
def test_complement_involution_and_range(k0: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(1, k0))
    enlarge = data.draw(st.booleans())
    space = plain(k0, m, enlarge, depth=3, width=2 * k0)
    widths = tuple(data.draw(st.integers(m, k0)) for _ in range(3))
    comp = space.complement(widths)
    assert space.validate(comp) == comp  # stays in [m, K0]
    assert space.complement(comp) == widths
    assert all(a + b == m + k0 for a, b in zip(widths, comp, strict=True))
    if enlarge:  # in the BCNetV2 space c' = K - c
        assert all(b == space.bins[0] - a for a, b in zip(widths, comp, strict=True))


@pytest.mark.parametrize("k0, m, depth", [(4, 1, 3), (5, 2, 2), (3, 3, 4), (6, 1, 1)])
def test_size_matches_enumeration(k0: int, m: int, depth: int) -> None:
    space = plain(k0, m, depth=depth, width=2 * k0)
    all_w = list(space.all_widths())
    assert space.size() == len(all_w) == (k0 - m + 1) ** depth
    assert len(set(all_w)) == len(all_w)
    for w in all_w:
        space.validate(w)


def test_channels_of_left_path() -> None:
    space = plain(4, 1, enlarge=True, depth=2, width=16)  # 5 bins of 4 channels
    assert space.channels == (20, 20)
    assert space.channels_of((1, 4)) == (4, 16)


def test_sampler_deterministic() -> None:
    space = plain(8, 2, enlarge=True, depth=4, width=16)
    a = WidthSampler(space, seed=5)
    b = WidthSampler(space, seed=5)
    for step in (0, 1, 7, 1000, 12345):
        assert a(step) == b(step) == a(step)
        space.validate(a(step))
    other = WidthSampler(space, seed=6)
    assert [a(s) for s in range(50)] != [other(s) for s in range(50)]
    assert len({a(s) for s in range(200)}) > 1


def test_sampler_complementary_pairs() -> None:
    space = plain(8, 2, enlarge=True, depth=4, width=16)
    sampler = WidthSampler(space, seed=3, complementary=True)
    again = WidthSampler(space, seed=3, complementary=True)
    firsts = set()
    for k in range(100):
        c, c2 = sampler(2 * k), sampler(2 * k + 1)
        assert c2 == space.complement(c)
        assert (c, c2) == (again(2 * k), again(2 * k + 1))
        space.validate(c2)
        firsts.add(c)
    assert len(firsts) > 1


def test_sampler_covers_range() -> None:
    space = plain(5, 2, depth=1, width=10)
    sampler = WidthSampler(space, seed=0)
    seen = {sampler(s)[0] for s in range(500)}
    assert seen == set(range(2, 6))


@pytest.mark.parametrize("family, options, needle", [
    ("cbm-mobilenet", {"width_mult": 0}, "width_mult must be a number > 0, got 0"),
    ("cbm-resnet", {"width_mult": -0.5}, "width_mult must be a number > 0"),
    ("mobilenetv2", {"width_mult": float("inf")}, "width_mult must be a number > 0"),
    ("resnet", {"width_mult": "wide"}, "width_mult must be a number > 0, got 'wide'"),
    ("cbm-mobilenet", {"input_size": 0}, "input_size must be an integer >= 1"),
    ("cbm-mobilenet", {"num_classes": 1}, "num_classes must be an integer >= 2"),
    ("cbm-resnet", {"in_channels": 0}, "in_channels must be an integer >= 1"),
    ("cbm-resnet", {"in_channels": 2.5}, "in_channels must be an integer >= 1"),
    ("resnet", {"depth": 21}, "depth must be 6n\\+2"),
    ("resnet", {"depth": "20"}, "depth must be an integer"),
    ("plaincnn", {"depth": 2.0}, "depth must be an integer"),
    ("plaincnn", {"width": True}, "width must be an integer"),
    ("cbm-mobilenet", {"depth": 3}, "has no option 'depth'"),
    ("nosuch", {}, "unknown space 'nosuch'"),
])
def test_bad_space_options_are_one_line_naming_the_option(family, options, needle):
    with pytest.raises(SlimnasError, match=needle) as e:
        get_space(family, **options)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kwargs, needle", [
    ({"bins": 2.5}, "bins must be an integer, got 2.5"),
    ({"min_bins": "1"}, "min_bins must be an integer"),
    ({"flops_bins": True, "flops_bins_min": 2.0}, "flops_bins_min must be an integer"),
])
def test_bad_bin_counts_are_refused(kwargs, needle):
    with pytest.raises(SlimnasError, match=needle):
        get_space("plaincnn", **kwargs)


@pytest.mark.parametrize("rule, options, needle", [
    ("ua", {"offset": 1}, "rule 'ua' has no option 'offset'; options: none"),
    ("bcnet", {"candidates": 4}, "rule 'bcnet' has no option 'candidates'"),
    ("bcnetv2", {"m": 2}, "rule 'bcnetv2' has no option 'm'"),
    ("cafenet", {"offest": 1}, "rule 'cafenet' has no option 'offest'; options: candidates"),
    ("cafenet", {"offset": -1}, "cafenet offset must be an integer >= 0"),
    ("cafenet", {"select": "best"}, "cafenet select must be one of"),
    ("nosuch", {}, "unknown rule 'nosuch'"),
])
def test_bad_rule_options_are_one_line(rule, options, needle):
    from slimnas.width.sharing import get_rule

    with pytest.raises(SlimnasError, match=needle) as e:
        get_rule(rule, **options)
    assert "\n" not in str(e.value)


def test_a_family_registered_from_outside_builds_like_a_built_in():
    from slimnas.width.spaces import FAMILIES, build_spec, family_names, family_options
    from slimnas.width.spaces.plain import plaincnn

    assert family_names() == FAMILIES.names()
    assert {"cbm-mobilenet", "cbm-resnet", "mobilenetv2", "plaincnn", "resnet"} <= set(FAMILIES)

    def toy(depth: int = 2, width: int = 8, input_size: int = 8):
        return plaincnn(depth=depth, width=width, input_size=input_size)

    with FAMILIES.registered(toy, "toy-stack"):
        assert "toy-stack" in family_names()
        assert family_options("toy-stack") == {"depth": 2, "width": 8, "input_size": 8}
        assert build_spec("toy-stack", depth=3).base_channels == (8, 8, 8)
        with pytest.raises(SlimnasError, match="has no option 'num_classes'"):
            get_space("toy-stack", num_classes=3)
    with pytest.raises(SlimnasError, match="unknown space 'toy-stack'; known: cbm-mobilenet"):
        family_options("toy-stack")
