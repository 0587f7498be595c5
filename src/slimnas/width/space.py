"""Width spaces: searchable channel groups, bins that partition them, width vectors.

Plain Python, no torch. A width vector is a tuple of bin counts, one per group.
Bin j of a group with C channels and K bins is channels [floor(j*C/K), floor((j+1)*C/K)).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from slimnas.errors import SlimnasError
from slimnas.width.spec import NetSpec


@dataclass(frozen=True)
class PathSpec:
    """One sub-network: the bins each group uses, and a name for the side it came from."""

    widths: tuple[int, ...]
    bins: tuple[tuple[int, ...], ...]
    side: str


class WidthSpace:
    """Groups with per-group bins K_g, supernet channels C_g and width range [c_min, c_max].

    `base_bins` (K0) are the bins of interest; a rule that enlarges the supernet
    (BCNetV2) adds `min_bins` (m) bins and widens every group by (K0 + m) / K0.
    `round_to` (r): every bin holds a multiple of r channels (widths deployed as multiples
    of 8 or 16 run faster): a built-in group's full width is rounded to a multiple of K0 * r
    (of its own K_g * r with `flops_bins`); a traced model's spec checks its fixed widths.
    """

    def __init__(self, spec: NetSpec, base_bins: int, min_bins: int = 1, enlarge: bool = False,
                 flops_bins: bool = False, flops_bins_min: int = 2, round_to: int = 1):
        if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
            raise SlimnasError(f"round_to must be an integer >= 1, got {round_to!r}")
        if base_bins < 1:
            raise SlimnasError(f"bins must be >= 1, got {base_bins}")
        if not 1 <= min_bins <= base_bins:
            raise SlimnasError(f"min-bins must be in [1, bins={base_bins}], got {min_bins}")
        self.spec = spec
        self.base_bins = base_bins
        self.min_bins = min_bins
        self.enlarge = enlarge
        self.flops_bins = flops_bins
        self.flops_bins_min = flops_bins_min
        self.round_to = round_to
        exact = getattr(spec, "exact_channels", False)  # a traced model: its weights fix them
        if exact:
            base = list(spec.base_channels)
        else:  # round each group's full width to a multiple of K0 (x r) so bins are
            unit = base_bins * round_to  # equal-sized (and each a multiple of r channels)
            base = [max(unit, round(c / unit) * unit) for c in spec.base_channels]
        self.full_channels = tuple(base)  # the width that K0 bins (digit "max") stands for
        if flops_bins:  # per-group K0 from the FLOPs one channel costs (1.8)
            from slimnas.width.flops_bins import flops_sensitive_bins

            group_k0 = flops_sensitive_bins(spec, base, base_bins, max(flops_bins_min, min_bins),
                                            round_to=round_to)
        else:
            group_k0 = tuple(base_bins for _ in base)
        if exact:  # fixed channel counts: the spec says whether these bins fit them
            spec.check_bins(group_k0)
        self.group_base_bins = tuple(group_k0)
        extra = min_bins if enlarge else 0
        self.channels = tuple(c // k * (k + extra) for c, k in zip(base, group_k0, strict=True))
        self.bins = tuple(k + extra for k in group_k0)  # supernet channels above, bins here
        self.c_min = tuple(min_bins for _ in base)
        self.c_max = tuple(group_k0)

    # --- basic facts -------------------------------------------------------------------
    @property
    def num_groups(self) -> int:
        return len(self.channels)

    @property
    def group_names(self) -> tuple[str, ...]:
        return self.spec.group_names

    def size(self) -> int:
        return math.prod(hi - lo + 1 for lo, hi in zip(self.c_min, self.c_max, strict=True))

    def max_widths(self) -> tuple[int, ...]:
        return tuple(self.c_max)

    def min_widths(self) -> tuple[int, ...]:
        return tuple(self.c_min)

    def describe(self) -> dict:
        return {
            "family": self.spec.family,
            "options": dict(self.spec.options),
            "bins": self.base_bins,
            "min_bins": self.min_bins,
            "enlarge": self.enlarge,
            "flops_bins": self.flops_bins,
            "round_to": self.round_to,
            "group_bins": list(self.group_base_bins),
        }

    # --- width vectors -------------------------------------------------------------------
    def validate(self, widths: Sequence[int]) -> tuple[int, ...]:
        w = tuple(int(v) for v in widths)
        if len(w) != self.num_groups:
            raise SlimnasError(
                f"width vector has {len(w)} entries, {self.spec.family} has {self.num_groups} groups"
            )
        for g, (v, lo, hi) in enumerate(zip(w, self.c_min, self.c_max, strict=True)):
            if not lo <= v <= hi:
                raise SlimnasError(
                    f"width {v} of group {self.group_names[g]} is outside [{lo}, {hi}] bins"
                )
        return w

    def key(self, widths: Sequence[int]) -> str:
        w = self.validate(widths)
        return "".join(map(str, w)) if max(w) <= 9 else "-".join(map(str, w))

    def parse(self, key: str | int | Sequence[int]) -> tuple[int, ...]:
        if isinstance(key, int):
            key = str(key)
        if isinstance(key, str):
            text = key.strip()
            try:
                parts = text.split("-") if "-" in text or self.num_groups == 1 else list(text)
                return self.validate([int(p) for p in parts])
            except ValueError:
                raise SlimnasError(f"malformed width key {key!r}") from None
        return self.validate(key)

    def channels_of(self, widths: Sequence[int]) -> tuple[int, ...]:
        """Channel counts of the left path of a width vector."""
        return tuple(self.bin_range(g, 0, c)[1] for g, c in enumerate(widths))

    def bin_range(self, group: int, a: int, b: int) -> tuple[int, int]:
        """Channels [start, stop) of bins [a, b) of a group."""
        c, k = self.channels[group], self.bins[group]
        return a * c // k, b * c // k

    def bin_channels(self, group: int, bins: Sequence[int]) -> list[int]:
        out: list[int] = []
        for j in bins:
            lo, hi = self.bin_range(group, j, j + 1)
            out.extend(range(lo, hi))
        return out

    def complement(self, widths: Sequence[int]) -> tuple[int, ...]:
        """c'_l = c_min + c_max - c_l: the width whose paths complete c's (section 1.3)."""
        return tuple(lo + hi - c for c, lo, hi in zip(widths, self.c_min, self.c_max, strict=True))

    def sample(self, rng: random.Random) -> tuple[int, ...]:
        return tuple(rng.randint(lo, hi) for lo, hi in zip(self.c_min, self.c_max, strict=True))

    def all_widths(self) -> Iterator[tuple[int, ...]]:
        import itertools

        ranges = [range(lo, hi + 1) for lo, hi in zip(self.c_min, self.c_max, strict=True)]
        return itertools.product(*ranges)

    def uniform_widths(self, bins: int) -> tuple[int, ...]:
        return self.validate([bins] * self.num_groups)
