"""Evaluators give a width vector a score (higher is better); a cache counts real queries.

`CachedEvaluator` is what searchers talk to: it remembers every score by width tuple,
counts distinct architectures evaluated (`queries`) and can cap them (`max_queries`).
Score-table evaluators need no torch; the supernet evaluator lives with the supernet and
the benchmark evaluator with the benchmark (`slimnas.bench.evaluator`): each only has to
offer `score(widths)`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from slimnas.errors import SlimnasError
from slimnas.width.space import WidthSpace


class QueryBudgetExhausted(SlimnasError):
    """A new architecture was asked for after `max_queries` distinct ones were evaluated."""


class Scorer(Protocol):
    def score(self, widths: tuple[int, ...]) -> float: ...


class Evaluator(ABC):
    """Scores width vectors; higher is better."""

    @abstractmethod
    def score(self, widths: tuple[int, ...]) -> float:
        """The score of one width vector."""


class CachedEvaluator(Evaluator):
    """Caches `inner.score` by width tuple; `queries` counts distinct evaluations.

    With `max_queries` (an integer >= 1: a search needs at least one query), asking for a
    NEW architecture once `max_queries` have been evaluated raises QueryBudgetExhausted;
    cached lookups stay free.
    """

    def __init__(self, inner: Scorer, max_queries: int | None = None):
        if max_queries is not None and (isinstance(max_queries, bool)
                                        or not isinstance(max_queries, numbers.Integral)
                                        or max_queries < 1):
            raise SlimnasError(f"the query budget (max_queries) must be an integer >= 1, "
                               f"got {max_queries!r}")
        self.inner = inner
        self.max_queries = max_queries
        self.cache: dict[tuple[int, ...], float] = {}

    @property
    def queries(self) -> int:
        return len(self.cache)

    @property
    def remaining(self) -> int | None:
        """New queries still allowed (None: unlimited)."""
        return None if self.max_queries is None else max(0, self.max_queries - self.queries)

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0

    def seen(self, widths: Sequence[int]) -> bool:
        return tuple(int(v) for v in widths) in self.cache

    def score(self, widths: Sequence[int]) -> float:
        key = tuple(int(v) for v in widths)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if self.exhausted:
            raise QueryBudgetExhausted(
                f"the query budget of {self.max_queries} architectures is spent"
            )
        value = float(self.inner.score(key))
        if math.isnan(value):
            raise SlimnasError(f"the evaluator returned NaN for widths {key}")
        self.cache[key] = value
        return value


def _number(value: Any, key: object) -> float:
    """A score from a number or from {"score": x} / {"mean": x}."""
    if isinstance(value, Mapping):
        for field in ("score", "mean"):
            if field in value:
                return _number(value[field], key)
        raise SlimnasError(f"score of {key!r} is an object without a 'score' or 'mean' field")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SlimnasError(f"score of {key!r} is not a number: {value!r}")
    if not math.isfinite(value):
        raise SlimnasError(f"score of {key!r} is not finite: {value!r}")
    return float(value)


class ScoreTableEvaluator(Evaluator):
    """Scores from a mapping of architecture keys ("4444342", 4444342, "1-12-3") to numbers
    (or {"score": x} / {"mean": x}); a missing entry is an error only when it is asked for."""

    def __init__(self, table: Mapping[Any, Any], space: WidthSpace, source: str = "score table"):
        self.space = space
        self.source = source
        self.table: dict[tuple[int, ...], float] = {}
        for key, value in table.items():
            if isinstance(key, bool):
                raise SlimnasError(f"{source}: bad architecture key {key!r}")
            try:
                widths = space.parse(key)
            except SlimnasError as e:
                raise SlimnasError(f"{source}: {e}") from None
            if widths in self.table:
                raise SlimnasError(f"{source}: architecture {space.key(widths)} appears twice")
            self.table[widths] = _number(value, key)

    def score(self, widths: Sequence[int]) -> float:
        w = self.space.validate(widths)
        hit = self.table.get(w)
        if hit is None:
            raise SlimnasError(f"{self.source} has no score for architecture {self.space.key(w)}")
        return hit

    def __len__(self) -> int:
        return len(self.table)


def load_score_table(path: str | os.PathLike, space: WidthSpace) -> ScoreTableEvaluator:
    """A ScoreTableEvaluator from a JSON object of architecture keys to scores."""
    p = Path(path)
    if not p.is_file():
        raise SlimnasError(f"no score table at {p}")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SlimnasError(f"{p} is not valid JSON: {e}") from None
    if not isinstance(raw, dict) or not raw:
        raise SlimnasError(f"{p}: expected a non-empty JSON object of architecture keys")
    return ScoreTableEvaluator(raw, space, source=str(p))
