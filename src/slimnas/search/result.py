"""What a search returns, and the log every searcher writes while it runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slimnas.errors import SlimnasError
from slimnas.search.budget import Budget
from slimnas.search.evaluators import CachedEvaluator
from slimnas.search.members import Members
from slimnas.width.space import WidthSpace


@dataclass
class SearchResult:
    """The winner, the best `top_k` candidates and every evaluated candidate.

    `history` and `top_k` entries are dicts {"widths", "key", "flops", "score",
    "generation"}; FLOPs are multiply-accumulates (MACs).
    """

    best: tuple[int, ...]
    best_score: float
    best_flops: int
    history: list[dict] = field(default_factory=list)
    top_k: list[dict] = field(default_factory=list)
    queries: int = 0
    exhausted: bool = False  # the evaluator's query cap stopped the search

    def to_dict(self) -> dict:
        return {
            "best": list(self.best), "best_score": self.best_score,
            "best_flops_macs": self.best_flops, "queries": self.queries,
            "exhausted": self.exhausted, "top_k": self.top_k, "history": self.history,
        }


class SearchLog:
    """Evaluates through the cache, remembers FLOPs and records each candidate once.

    `members`, when given, are the only vectors the search may evaluate (`legal` asks
    for membership; `evaluate` refuses anything else)."""

    def __init__(self, space: WidthSpace, evaluator: CachedEvaluator, budget: Budget,
                 members: Members | None = None):
        self.space, self.evaluator, self.budget = space, evaluator, budget
        self.members = members
        self.history: list[dict] = []
        self.scores: dict[tuple[int, ...], float] = {}
        self._flops: dict[tuple[int, ...], float] = {}  # the budget's cost (MACs default)
        self.exhausted = False

    def flops(self, widths: Sequence[int]) -> float:
        """The width's cost in the budget's units (MACs unless the budget counts else)."""
        w = tuple(widths)
        hit = self._flops.get(w)
        if hit is None:
            hit = self._flops[w] = self.budget.of(self.space, w)
        return hit

    def seen(self, widths: Sequence[int]) -> bool:
        return tuple(widths) in self.scores

    def allowed(self, widths: Sequence[int]) -> bool:
        """A member of the allowed set (always, without one)."""
        return self.members is None or tuple(widths) in self.members

    def legal(self, widths: Sequence[int]) -> bool:
        """What a new window candidate must be: allowed, FLOPs inside the window."""
        return self.allowed(widths) and self.budget.legal(self.flops(widths))

    def evaluate(self, widths: Sequence[int], generation: int) -> float:
        """Score (QueryBudgetExhausted propagates) and record the first time it is seen."""
        w = tuple(int(v) for v in widths)
        if w in self.scores:
            return self.scores[w]
        if not self.allowed(w):  # a guard: the searchers only propose members
            raise SlimnasError(f"architecture {self.space.key(w)} is not one of "
                               f"{self.members.source}")
        score = self.evaluator.score(w)
        self.scores[w] = score
        self.history.append({"widths": list(w), "key": self.space.key(w), "flops": self.flops(w),
                             "score": score, "generation": generation})
        return score

    def ranked(self, keep: Callable[[int], bool] | None = None) -> list[dict]:
        """History entries (filtered by FLOPs with `keep`), best score first, stable."""
        keep = self.budget.legal if keep is None else keep
        rows = [h for h in self.history if keep(h["flops"])]
        return sorted(rows, key=lambda h: -h["score"])

    def result(self, top_k: int, keep: Callable[[int], bool] | None = None,
               best: Sequence[int] | None = None) -> SearchResult:
        """The SearchResult over candidates whose FLOPs pass `keep` (default: legal);
        `best`, when given (an evaluated, kept vector), is the winner and heads top_k."""
        rows = self.ranked(keep)
        if best is not None:
            first = [r for r in rows if tuple(r["widths"]) == tuple(best)]
            rows = first + [r for r in rows if tuple(r["widths"]) != tuple(best)]
        if not rows:
            why = " (the query budget ran out first)" if self.exhausted else ""
            raise SlimnasError(
                f"the search evaluated no candidate inside the budget "
                f"({self.budget.describe()}){why}"
            )
        best = rows[0]
        return SearchResult(
            best=tuple(best["widths"]), best_score=best["score"], best_flops=best["flops"],
            history=self.history, top_k=[dict(r) for r in rows[:top_k]],
            queries=len(self.history), exhausted=self.exhausted,
        )
