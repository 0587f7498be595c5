"""Registry of width-searchable model families: `get_space("cbm-mobilenet", ...)`."""

from __future__ import annotations

import inspect
import math

from slimnas.errors import SlimnasError
from slimnas.width.space import WidthSpace

# the built-in families register themselves on import
from slimnas.width.spaces import cbm, mobilenetv2, plain, resnet  # noqa: F401
from slimnas.width.spaces.registry import FAMILIES, register
from slimnas.width.spec import NetSpec

__all__ = ["FAMILIES", "build_spec", "family_names", "family_options", "get_space", "register"]


def family_names() -> list[str]:
    """The registered family names, sorted."""
    return FAMILIES.names()


def family_options(name: str) -> dict:
    """The options a family takes, with their defaults."""
    fn = FAMILIES.get(name)
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()}


def build_spec(name: str, **options) -> NetSpec:
    """The validated NetSpec of family `name`; unknown or bad options raise SlimnasError."""
    fn = FAMILIES.get(name)
    known = family_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SlimnasError(
            f"space {name!r} has no option {unknown[0]!r}; options: {', '.join(sorted(known))}"
        )
    for key, value in options.items():
        allowed = _option_problem(key, value, known[key])
        if allowed:
            raise SlimnasError(f"space {name!r}: {key} must be {allowed}, got {value!r}")
    merged = {**known, **options}
    try:
        spec = fn(**merged)
        spec.validate()
    except (TypeError, ValueError) as e:
        raise SlimnasError(f"space {name!r}: {e}") from None
    return spec


# the lowest value of the options several families share (width_mult: strictly above)
_LOWEST = {"width_mult": 0, "in_channels": 1, "input_size": 1, "num_classes": 2, "depth": 1,
           "width": 1}


def _option_problem(key: str, value, default) -> str | None:
    """None when `value` suits an option whose default is `default`, else what is allowed."""
    lo = _LOWEST.get(key)
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and (lo is None or value >= lo)
        return None if ok else "an integer" + ("" if lo is None else f" >= {lo}")
    if isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value) and (lo is None or value > lo)
        return None if ok else "a number" + ("" if lo is None else f" > {lo}")
    return None


def get_space(
    name: str, bins: int = 4, min_bins: int = 1, enlarge: bool = False,
    flops_bins: bool = False, flops_bins_min: int = 2, round_to: int = 1, **options
) -> WidthSpace:
    """A width space of a registered family; `enlarge` widens it by (bins+min_bins)/bins,
    `flops_bins` gives every group its FLOPs-sensitive bin count (flops_bins.py),
    `round_to` makes every bin a multiple of that many channels (WidthSpace)."""
    for key, value in (("bins", bins), ("min_bins", min_bins), ("flops_bins_min", flops_bins_min)):
        if isinstance(value, bool) or not isinstance(value, int):  # ranges: WidthSpace's
            raise SlimnasError(f"{key} must be an integer, got {value!r}")
    if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
        raise SlimnasError(f"round_to must be an integer >= 1, got {round_to!r}")
    return WidthSpace(build_spec(name, **options), bins, min_bins, enlarge,
                      flops_bins=flops_bins, flops_bins_min=flops_bins_min, round_to=round_to)
