"""Width search under a FLOPs budget: budgets, evaluators, searchers (no torch needed).

FLOPs everywhere in this package are multiply-accumulates (MACs). `Searcher.search(...,
members=...)` restricts a search to a finite set of width vectors (`Members`), e.g. the
architectures of a built benchmark.
"""

from slimnas.search.base import Searcher
from slimnas.search.budget import Budget, check_feasible, parse_budget
from slimnas.search.evaluators import (
    CachedEvaluator,
    Evaluator,
    QueryBudgetExhausted,
    ScoreTableEvaluator,
    load_score_table,
)
from slimnas.search.evolution import EvolutionSearcher
from slimnas.search.greedy import GreedySearcher
from slimnas.search.members import Members
from slimnas.search.random_search import RandomSearcher
from slimnas.search.result import SearchResult
from slimnas.search.searchers import SEARCHERS, get_searcher, searcher_names

__all__ = [
    "SEARCHERS", "Budget", "CachedEvaluator", "Evaluator", "EvolutionSearcher",
    "GreedySearcher", "Members", "QueryBudgetExhausted", "RandomSearcher", "ScoreTableEvaluator",
    "SearchResult", "Searcher", "check_feasible", "get_searcher", "load_score_table",
    "parse_budget", "searcher_names",
]
