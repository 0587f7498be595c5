"""The searcher registry: `get_searcher("evolution", **options)`; `searcher_names()` lists them."""

from __future__ import annotations

import inspect

from slimnas.errors import SlimnasError
from slimnas.registry import Registry
from slimnas.search.base import Searcher
from slimnas.search.evolution import EvolutionSearcher
from slimnas.search.greedy import GreedySearcher
from slimnas.search.random_search import RandomSearcher

SEARCHERS: Registry[type[Searcher]] = Registry("searcher")
for _cls in (EvolutionSearcher, RandomSearcher, GreedySearcher):
    SEARCHERS.register()(_cls)  # under the class's own `name`


def searcher_names() -> list[str]:
    """The registered searcher names, sorted."""
    return SEARCHERS.names()


def searcher_options(name: str) -> dict:
    """The options a searcher takes, with their defaults."""
    cls = SEARCHERS.get(name)
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
    return SEARCHERS.get(name)(**options)
