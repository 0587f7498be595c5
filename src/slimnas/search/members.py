"""A finite set of allowed width vectors: what a search may propose and return.

A built benchmark (`slimnas bench build`) holds only the architectures it trained, so a
search on it must stay inside that set. `Members` is the one mechanism for that: given to
`Searcher.search(..., members=...)`, it is honoured by the feasibility check, by
`LegalSampler` (it samples from the members only), by `SearchLog.legal` (every check of a
new candidate) and by `SearchLog.evaluate` (a guard), so no searcher needs its own rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.search.codes import WidthCodec
from slimnas.width.space import WidthSpace


class Members:
    """Distinct width vectors of one space, as a sorted (N, G) array and a set of tuples.

    `rows`: an (N, G) integer array, or width vectors / keys (`space.parse` reads each);
    `source` names the set in error messages, e.g. "the 100 architectures in truth.json".
    """

    def __init__(self, space: WidthSpace, rows: np.ndarray | Iterable, source: str | None = None):
        if isinstance(rows, np.ndarray):
            arr = rows
        else:
            arr = [space.parse(r) if isinstance(r, (str, int)) else space.validate(r)
                   for r in rows]
        arr = np.asarray(arr, dtype=np.int64)
        if arr.size == 0:
            raise SlimnasError("the set of architectures to search is empty")
        if arr.ndim != 2 or arr.shape[1] != space.num_groups:
            raise SlimnasError(f"allowed architectures must be width vectors of "
                               f"{space.num_groups} groups, got an array of shape {arr.shape}")
        lo, hi = np.asarray(space.c_min), np.asarray(space.c_max)
        bad = np.flatnonzero(np.any((arr < lo) | (arr > hi), axis=1))
        if len(bad):
            raise SlimnasError(f"allowed architecture {arr[bad[0]].tolist()} is outside the "
                               f"space's widths [{space.c_min}, {space.c_max}]")
        self.array = np.unique(arr, axis=0)  # sorted: a deterministic order for samplers
        self.set = frozenset(tuple(int(v) for v in row) for row in self.array.tolist())
        self.source = source or f"the {len(self.array):,} allowed architectures"
        self._codec = WidthCodec(space)
        self._codes = self._codec.encode(self.array) if self._codec.usable else None

    def __len__(self) -> int:
        return len(self.array)

    def __contains__(self, widths: object) -> bool:
        return widths in self.set

    def mask(self, widths: np.ndarray) -> np.ndarray:
        """(N,) bool: which rows of an (N, G) array are members."""
        widths = np.asarray(widths, dtype=np.int64)
        if len(widths) == 0:
            return np.zeros(0, dtype=bool)
        if self._codes is not None:
            return np.isin(self._codec.encode(widths), self._codes)
        return np.array([tuple(int(v) for v in row) in self.set for row in widths], dtype=bool)


def as_members(space: WidthSpace, members: Members | Iterable[Sequence[int] | str] | None
               ) -> Members | None:
    """None (every vector of the space is allowed) or a `Members` of `space`."""
    if members is None or isinstance(members, Members):
        return members
    return Members(space, members)
