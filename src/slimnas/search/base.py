"""The searcher interface: one fixed `search()` sequence around each algorithm's loop.

`search()` checks feasibility BEFORE any evaluation, wraps the evaluator in a cache,
runs the algorithm, turns an exhausted query cap into a clean stop and builds the
result. Subclasses implement `_run` only. With `members` (e.g. the architectures of a
built benchmark) every proposed and returned vector is one of them: the feasibility
check, the sampler and `SearchLog.legal` all honour the set.

Option values are checked when a searcher is made (`int_option`, `float_option`,
`bool_option`): a bad one is one SlimnasError line naming the option.
"""

from __future__ import annotations

import math
import numbers
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from slimnas.errors import SlimnasError
from slimnas.search.budget import Budget, check_feasible
from slimnas.search.evaluators import CachedEvaluator, QueryBudgetExhausted, Scorer
from slimnas.search.members import Members, as_members
from slimnas.search.result import SearchLog, SearchResult
from slimnas.search.sampling import ENUMERATE_LIMIT, LegalSampler
from slimnas.width.space import WidthSpace

# init(rng, n) -> up to n width vectors (e.g. a PriorSampler)
InitSampler = Callable[[random.Random, int], Sequence[Sequence[int]]]


class Searcher(ABC):
    """Finds a high-scoring width vector whose FLOPs lie in the budget window."""

    name = "searcher"
    needs_window = True  # greedy only needs to fit under the budget

    def __init__(self, top_k: int = 10, enumerate_limit: int = ENUMERATE_LIMIT):
        self.top_k = int_option(self.name, "top_k", top_k, 1)
        self.enumerate_limit = int_option(self.name, "enumerate_limit", enumerate_limit, 0)

    def search(self, space: WidthSpace, evaluator: CachedEvaluator | Scorer, budget: Budget,
               rng: random.Random, init: InitSampler | None = None,
               members: Members | None = None) -> SearchResult:
        """Run the search; every returned candidate is legal (greedy: fits the budget) and,
        with `members` (a `Members` or width vectors / keys), one of the members."""
        members = as_members(space, members)
        check_feasible(space, budget, window=self.needs_window, members=members)
        if not isinstance(evaluator, CachedEvaluator):
            evaluator = CachedEvaluator(evaluator)
        log = SearchLog(space, evaluator, budget, members)
        chosen = None
        try:
            chosen = self._run(space, log, budget, rng, init)
        except QueryBudgetExhausted:
            log.exhausted = True  # a clean stop: return the best found so far
        log.exhausted = log.exhausted or evaluator.exhausted
        keep = budget.legal if self.needs_window else budget.fits
        return log.result(self.top_k, keep=keep, best=chosen)

    @abstractmethod
    def _run(self, space: WidthSpace, log: SearchLog, budget: Budget, rng: random.Random,
             init: InitSampler | None) -> tuple[int, ...] | None:
        """The algorithm: evaluate candidates through `log.evaluate`; may return the
        winner when it is not simply the best-scoring kept candidate."""

    def _sampler(self, log: SearchLog) -> LegalSampler:
        return LegalSampler(log.space, log.budget, self.enumerate_limit, members=log.members)


def int_option(owner: str, name: str, value: object, low: int) -> int:
    """`value` as an int >= `low`; a bool, a float or a string is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise SlimnasError(f"{owner} option {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def float_option(owner: str, name: str, value: object, low: float | None = None,
                 high: float | None = None, low_open: bool = False) -> float:
    """`value` as a finite float in [low, high] ((low, high] with `low_open`)."""
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        left = "-inf" if low is None else f"{low}"
        right = "inf)" if high is None else f"{high}]"
        raise SlimnasError(f"{owner} option {name} must be a number in "
                           f"{'(' if low_open or low is None else '['}{left}, {right}, "
                           f"got {value!r}")
    return float(value)


def bool_option(owner: str, name: str, value: object) -> bool:
    """`value` if it is a bool (true/false in YAML), else SlimnasError."""
    if not isinstance(value, bool):
        raise SlimnasError(f"{owner} option {name} must be true or false, got {value!r}")
    return value


def query_limit(log: SearchLog, default: int) -> int:
    """New queries this search may spend: the evaluator's remaining cap, else `default`."""
    remaining = log.evaluator.remaining
    return default if remaining is None else remaining


def initial_population(space: WidthSpace, log: SearchLog, sampler: LegalSampler,
                       rng: random.Random, n: int, init: InitSampler | None,
                       taken: set[tuple[int, ...]] | None = None) -> list[tuple[int, ...]]:
    """Up to n distinct legal unseen vectors: from `init` first, then uniformly."""
    taken = set() if taken is None else taken
    out: list[tuple[int, ...]] = []
    if init is not None and n > 0:
        for w in init(rng, n):
            v = space.validate(w)
            if v in taken or log.seen(v) or not log.legal(v):
                continue  # the prior may return illegal or repeated vectors: skip them
            taken.add(v)
            out.append(v)
            if len(out) == n:
                break
    exclude = _Union(log.scores, taken)
    for v in sampler.sample(rng, n - len(out), exclude):
        taken.add(v)
        out.append(v)
    return out


class _Union:
    """Membership in any of several containers (no copy of the seen set)."""

    def __init__(self, *parts):
        self.parts = parts

    def __contains__(self, item) -> bool:
        return any(item in p for p in self.parts)
