"""Width vectors as single integers (mixed radix), for fast set operations in numpy."""

from __future__ import annotations

import numpy as np

from slimnas.width.space import WidthSpace

_MAX_CODE = 2**62  # int64 headroom


class WidthCodec:
    """code(w) = sum_g (w_g - c_min_g) * radix_g; `usable` is False for spaces too large
    for int64 codes, where callers fall back to tuples."""

    def __init__(self, space: WidthSpace):
        self.lo = np.asarray(space.c_min, dtype=np.int64)
        sizes = np.asarray(space.c_max, dtype=np.int64) - self.lo + 1
        self.usable = space.size() < _MAX_CODE
        radix = [1]
        for s in sizes[::-1][:-1]:
            radix.append(radix[-1] * int(s) if self.usable else 1)
        self.radix = np.array(radix[::-1], dtype=np.int64)

    def encode(self, widths: np.ndarray) -> np.ndarray:
        """(N,) int64 codes of (N, G) width vectors (only when `usable`)."""
        return (np.asarray(widths, dtype=np.int64) - self.lo) @ self.radix


def unseen_unique(codec: WidthCodec, rows: np.ndarray, seen: set[tuple[int, ...]]
                  ) -> np.ndarray:
    """The distinct rows of `rows` whose tuples are not in `seen`, in a stable order."""
    if len(rows) == 0:
        return rows
    if codec.usable:
        codes = codec.encode(rows)
        _, first = np.unique(codes, return_index=True)
        first.sort()
        rows, codes = rows[first], codes[first]
        if seen:
            seen_codes = codec.encode(np.array(list(seen), dtype=np.int64))
            rows = rows[~np.isin(codes, seen_codes)]
        return rows
    out, taken = [], set()
    for r in rows:
        t = tuple(int(v) for v in r)
        if t not in seen and t not in taken:
            taken.add(t)
            out.append(r)
    return np.array(out, dtype=np.int64).reshape(-1, rows.shape[1])
