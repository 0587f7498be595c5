"""Random search: uniform legal samples, no duplicates, best of everything queried."""

from __future__ import annotations

import random

from slimnas.search.base import InitSampler, Searcher, initial_population, int_option, query_limit
from slimnas.search.budget import Budget
from slimnas.search.result import SearchLog
from slimnas.width.space import WidthSpace

DEFAULT_SAMPLES = 1000


class RandomSearcher(Searcher):
    """Uniform samples rejected into the FLOPs window until the query budget is spent.

    `samples`: how many architectures to evaluate; None = the evaluator's remaining
    `max_queries`, or 1000 when it has none. `init`, when given, supplies the samples
    instead of the uniform sampler (topped up uniformly when it runs short).
    """

    name = "random"

    def __init__(self, samples: int | None = None, chunk: int = 64, top_k: int = 10,
                 enumerate_limit: int = 100_000):
        super().__init__(top_k, enumerate_limit)
        self.samples = None if samples is None else int_option(self.name, "samples", samples, 1)
        self.chunk = int_option(self.name, "chunk", chunk, 1)

    def _run(self, space: WidthSpace, log: SearchLog, budget: Budget, rng: random.Random,
             init: InitSampler | None) -> None:
        sampler = self._sampler(log)
        cap = query_limit(log, DEFAULT_SAMPLES)
        total = cap if self.samples is None else min(self.samples, cap)
        # chunks keep memory flat; each chunk evaluates >= 1 new vector or the loop ends
        for _ in range(total):
            todo = min(self.chunk, total - len(log.history))
            if todo <= 0:
                break
            batch = initial_population(space, log, sampler, rng, todo, init)
            if not batch:
                break  # every legal vector has been evaluated
            for w in batch:
                log.evaluate(w, generation=0)
