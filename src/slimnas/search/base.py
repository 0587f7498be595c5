"""The searcher interface: one fixed `search()` sequence around each algorithm's loop.

`search()` checks feasibility BEFORE any evaluation, wraps the evaluator in a cache,
runs the algorithm, turns an exhausted query cap into a clean stop and builds the
result. Subclasses implement `_run` only.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from slimnas.errors import SlimnasError
from slimnas.search.budget import Budget, check_feasible
from slimnas.search.evaluators import CachedEvaluator, QueryBudgetExhausted, Scorer
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
        if top_k < 1:
            raise SlimnasError(f"top_k must be >= 1, got {top_k}")
        self.top_k = top_k
        self.enumerate_limit = enumerate_limit

    def search(self, space: WidthSpace, evaluator: CachedEvaluator | Scorer, budget: Budget,
               rng: random.Random, init: InitSampler | None = None) -> SearchResult:
        """Run the search; every returned candidate is legal (greedy: fits the budget)."""
        check_feasible(space, budget, window=self.needs_window)
        if not isinstance(evaluator, CachedEvaluator):
            evaluator = CachedEvaluator(evaluator)
        log = SearchLog(space, evaluator, budget)
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

    def _sampler(self, space: WidthSpace, budget: Budget) -> LegalSampler:
        return LegalSampler(space, budget, self.enumerate_limit)


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
            if v in taken or log.seen(v) or not log.budget.legal(log.flops(v)):
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
