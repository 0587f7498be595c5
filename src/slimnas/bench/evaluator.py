"""The benchmark as an evaluator: a width vector's score is its true mean accuracy.

It lives with the benchmark, not with the searchers, so that `slimnas.search` never
imports `slimnas.bench` (the search wing needs no benchmark files).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from slimnas.bench.cbm import open_bench
from slimnas.errors import SlimnasError
from slimnas.search.evaluators import Evaluator


class BenchmarkEvaluator(Evaluator):
    """The true mean accuracy from Channel-Bench-Macro ("mobilenet" | "resnet").

    Widths are 7 digits in 1..4 (digit d = d * 25 % of the layer's max width); for a
    `bench build` file, widths of the space its `<file>.meta.json` describes.
    """

    def __init__(self, space_name: str, path: str | os.PathLike | None = None):
        bench = open_bench(space_name, path)  # a built file's meta gives its own space
        self.space_name = space_name
        self.entries = bench.entries
        self.space = bench.space

    def score(self, widths: Sequence[int]) -> float:
        key = self.space.key(widths)
        entry = self.entries.get(key)
        if entry is None:
            raise SlimnasError(f"architecture {key} is not in the {self.space_name} benchmark")
        return float(entry["mean"])
