"""The one registry helper: add by decorator, look up with a one-line error, list names."""

from __future__ import annotations

import pytest

from slimnas.errors import SlimnasError
from slimnas.registry import Registry


def test_register_get_names_and_unregister():
    reg: Registry = Registry("widget")

    @reg.register("b")
    def b():
        return "b"

    @reg.register()
    class A:
        name = "a"

    assert reg.get("b") is b and reg.get("a") is A
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"] and len(reg) == 2
    assert "a" in reg and "c" not in reg and 3 not in reg
    reg.register("b")(b)  # the same entry again is harmless
    reg.register("alias")(b)  # one entry may have several names
    assert reg.get("alias") is b
    reg.unregister("alias")
    reg.unregister("never there")
    assert reg.names() == ["a", "b"]


@pytest.mark.parametrize("name", ["c", None, 3, ["a"]])
def test_unknown_names_are_one_line_listing_the_known(name):
    reg: Registry = Registry("widget")
    reg.register("a")(object())
    with pytest.raises(SlimnasError) as e:
        reg.get(name)
    assert str(e.value) == f"unknown widget {name!r}; known: a"


def test_bad_or_clashing_names_are_refused():
    reg: Registry = Registry("widget")
    reg.register("a")(object())
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(object())
    with pytest.raises(ValueError, match="non-empty string name"):
        reg.register()(object())  # no `name` attribute
    with pytest.raises(ValueError, match="non-empty string name"):
        reg.register("")(object())


def test_registered_is_undone_even_when_the_block_fails():
    reg: Registry = Registry("widget")

    class Toy:
        name = "toy"

    with pytest.raises(RuntimeError), reg.registered(Toy) as entry:
        assert entry is Toy and reg.get("toy") is Toy
        raise RuntimeError("boom")
    assert "toy" not in reg
    with reg.registered(Toy, "other"):
        assert reg.names() == ["other"]
    assert len(reg) == 0
