"""The searcher registry: `get_searcher("evolution" | "random" | "greedy", **options)`."""

from __future__ import annotations

import inspect

from slimnas.errors import SlimnasError
from slimnas.search.base import Searcher
from slimnas.search.evolution import EvolutionSearcher
from slimnas.search.greedy import GreedySearcher
from slimnas.search.random_search import RandomSearcher

SEARCHERS: dict[str, type[Searcher]] = {
    "evolution": EvolutionSearcher,
    "random": RandomSearcher,
    "greedy": GreedySearcher,
}


def searcher_options(name: str) -> dict:
    """The options a searcher takes, with their defaults."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.name != "self"}


def get_searcher(name: str, **options) -> Searcher:
    """A searcher by name; unknown names or options, and bad option values (checked by the
    searcher's constructor), raise SlimnasError."""
    known = searcher_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SlimnasError(
            f"searcher {name!r} has no option {unknown[0]!r}; options: {', '.join(sorted(known))}"
        )
    return SEARCHERS[name](**options)


def _lookup(name: str) -> type[Searcher]:
    if not isinstance(name, str) or name not in SEARCHERS:
        raise SlimnasError(f"unknown searcher {name!r}; known: {', '.join(sorted(SEARCHERS))}")
    return SEARCHERS[name]
