"""Evolutionary search under a FLOPs budget (ALGORITHMS.md 1.6), plain or surrogate-guided.

Plain (`surrogate=False, flops_aware=False, local_search=False`): the authors' algorithm.
A population of 50 from the initial sampler; each generation keeps the top 10 seen so
far as parents, makes 25 mutants (each gene resampled with p = 0.1) and 25 uniform
crossovers of two parents, legal = unseen and FLOPs in the window, and fills the
population back up from the initial sampler when too few children are legal;
20 generations.

Guided (the default): the same operators make a large pool of children (plus the +-1
neighbours of the parents and, for spaces small enough to enumerate, every unseen legal
vector); a ridge surrogate fitted on everything queried so far ranks the pool, and real
queries go in small batches (5, or 1/20 of the history when that is more) to the
best-ranked candidates, with one random child per batch for exploration. On
Channel-Bench-Macro with 100 queries this finds a top-3 architecture in the median
where the plain algorithm's median rank is ~4-22.

With a query cap on the evaluator (`max_queries`) the search runs until the cap is
spent (the number of generations follows from it) and returns the best so far; without
one it spends what the plain algorithm would (population * (generations + 1) queries).

Mutation (`mutation`) redraws a gene uniformly in [c_min, c_max] ("uniform", the default)
or from the learned prior's distribution of that group ("prior", as the released BCNetV2
code does); "prior" needs the init sampler to be the prior (a `PriorSampler`, or anything
with per-group `probs`), else the search stops with one SlimnasError line before scoring.
"""

from __future__ import annotations

import random

import numpy as np

from slimnas.errors import SlimnasError
from slimnas.search.base import (
    InitSampler,
    Searcher,
    bool_option,
    float_option,
    initial_population,
    int_option,
    query_limit,
)
from slimnas.search.budget import Budget
from slimnas.search.codes import WidthCodec, unseen_unique
from slimnas.search.operators import (
    GeneProbs,
    crossover,
    crossover_array,
    gene_probs,
    mutate,
    mutate_array,
    neighbours_array,
)
from slimnas.search.result import SearchLog
from slimnas.search.sampling import LegalSampler, numpy_rng
from slimnas.search.surrogate import RidgeSurrogate
from slimnas.width.space import WidthSpace

MUTATIONS = ("uniform", "prior")


class EvolutionSearcher(Searcher):
    """Evolution with the authors' operators; surrogate ranking and FLOPs-awareness on by
    default (`surrogate=False, flops_aware=False, local_search=False` is the plain one).

    Guided options: `init_size` vectors from the initial sampler first, then `batch`
    queries per generation (or `batch_growth` * queries so far, when larger), `explore`
    of them random children; `pool` children per generation; ridge penalty `ridge`;
    weight `linear` of the surrogate's per-group linear width features (large: a nearly
    free linear trend). `flops_aware` adds FLOPs as a surrogate feature (plain mode:
    each child is the highest-FLOPs of `flops_tries` legal proposals); `local_search`
    adds the parents' +-1 single-group moves to the pool. `mutation`: "uniform" or
    "prior" (redraw mutated genes from the init sampler's learned distribution).
    """

    name = "evolution"

    def __init__(self, population: int = 50, top_k: int = 10, mutations: int = 25,
                 crossovers: int = 25, generations: int = 20, mutate_prob: float = 0.1,
                 surrogate: bool = True, flops_aware: bool = True, local_search: bool = True,
                 init_size: int = 20, batch: int = 5, explore: int = 1, pool: int = 2000,
                 ridge: float = 0.3, linear: float = 10.0, batch_growth: float = 0.05,
                 flops_tries: int = 3, enumerate_limit: int = 100_000,
                 mutation: str = "uniform"):
        super().__init__(top_k, enumerate_limit)
        me = self.name
        self.population = int_option(me, "population", population, 1)
        self.mutations = int_option(me, "mutations", mutations, 0)
        self.crossovers = int_option(me, "crossovers", crossovers, 0)
        self.generations = int_option(me, "generations", generations, 1)
        self.mutate_prob = float_option(me, "mutate_prob", mutate_prob, 0.0, 1.0)
        self.surrogate = bool_option(me, "surrogate", surrogate)
        self.flops_aware = bool_option(me, "flops_aware", flops_aware)
        self.local_search = bool_option(me, "local_search", local_search)
        self.init_size = int_option(me, "init_size", init_size, 1)
        self.batch = int_option(me, "batch", batch, 1)
        self.explore = int_option(me, "explore", explore, 0)
        if self.explore >= self.batch:
            raise SlimnasError(f"evolution option explore must be in [0, batch={batch}), "
                               f"got {explore}")
        self.pool = int_option(me, "pool", pool, 1)
        self.ridge = float_option(me, "ridge", ridge, 0.0, low_open=True)
        self.linear = float_option(me, "linear", linear, 0.0)
        self.batch_growth = float_option(me, "batch_growth", batch_growth, 0.0)
        self.flops_tries = int_option(me, "flops_tries", flops_tries, 1)
        if not isinstance(mutation, str) or mutation not in MUTATIONS:
            raise SlimnasError(f"evolution option mutation must be uniform or prior, "
                               f"got {mutation!r}")
        self.mutation = mutation

    @property
    def needs_prior(self) -> bool:
        """True when the search needs the learned prior as its init sampler."""
        return self.mutation == "prior"

    def _mutation_probs(self, space: WidthSpace, init: InitSampler | None) -> GeneProbs | None:
        """None (uniform mutation), or the prior's per-group distributions."""
        if self.mutation == "uniform":
            return None
        probs = getattr(init, "probs", None)
        if probs is None:
            raise SlimnasError("evolution option mutation prior redraws genes from the learned "
                               "prior, but this search has none: use search.init prior, or "
                               "mutation uniform")
        return gene_probs(space, probs)

    def _run(self, space: WidthSpace, log: SearchLog, budget: Budget, rng: random.Random,
             init: InitSampler | None) -> None:
        probs = self._mutation_probs(space, init)  # before any query
        sampler = self._sampler(log)
        capped = log.evaluator.max_queries is not None
        spend = query_limit(log, self.population * (self.generations + 1))
        if self.surrogate:
            self._guided(space, log, sampler, rng, init, spend, probs)
        else:
            # with a cap the generations follow from it: each one spends >= 1 query or stops
            self._plain(space, log, sampler, rng, init, spend if capped else self.generations,
                        probs)

    # --- the authors' loop ----------------------------------------------------------------
    def _plain(self, space: WidthSpace, log: SearchLog, sampler: LegalSampler,
               rng: random.Random, init: InitSampler | None, generations: int,
               probs: GeneProbs | None = None) -> None:
        for w in initial_population(space, log, sampler, rng, self.population, init):
            log.evaluate(w, generation=0)
        for gen in range(1, generations + 1):
            parents = [tuple(r["widths"]) for r in log.ranked()[:self.top_k]]
            taken: set[tuple[int, ...]] = set()
            children = self._children(space, log, parents, rng, taken, probs)
            children += initial_population(space, log, sampler, rng,
                                           self.population - len(children), init, taken)
            if not children:
                break  # every legal vector has been evaluated
            for w in children:
                log.evaluate(w, generation=gen)

    def _children(self, space: WidthSpace, log: SearchLog, parents: list[tuple[int, ...]],
                  rng: random.Random, taken: set[tuple[int, ...]],
                  probs: GeneProbs | None = None) -> list[tuple[int, ...]]:
        """Legal unseen mutants and crossovers (bounded tries: 10 per wanted child)."""
        out: list[tuple[int, ...]] = []
        if not parents:
            return out
        tries = self.flops_tries if self.flops_aware else 1
        for count, make in (
            (self.mutations,
             lambda: mutate(space, rng.choice(parents), rng, self.mutate_prob, probs)),
            (self.crossovers, lambda: crossover(*_two(parents, rng), rng)),
        ):
            made = 0
            for _ in range(10 * count):
                if made == count:
                    break
                legal = [c for c in (make() for _ in range(tries))
                         if c not in taken and not log.seen(c) and log.legal(c)]
                if legal:
                    child = max(legal, key=log.flops)  # flops-aware: prefer the top of the window
                    taken.add(child)
                    out.append(child)
                    made += 1
        return out

    # --- surrogate-guided loop --------------------------------------------------------------
    def _guided(self, space: WidthSpace, log: SearchLog, sampler: LegalSampler,
                rng: random.Random, init: InitSampler | None, spend: int,
                probs: GeneProbs | None = None) -> None:
        start = len(log.history)
        for w in initial_population(space, log, sampler, rng, min(self.init_size, spend), init):
            log.evaluate(w, generation=0)
        model = RidgeSurrogate(space, self.ridge, budget_scale(log) if self.flops_aware else None,
                               linear=self.linear)
        codec = WidthCodec(space)
        for gen in range(1, spend + 1):
            left = spend - (len(log.history) - start)
            if left <= 0:
                break
            # long searches refit less often: the batch grows with what has been seen
            batch = max(self.batch, int(self.batch_growth * len(log.history)))
            picks = self._propose(space, log, sampler, rng, model, codec, min(batch, left),
                                  probs)
            if not picks:
                break  # every legal vector has been evaluated
            for w in picks:
                log.evaluate(w, generation=gen)

    def _propose(self, space: WidthSpace, log: SearchLog, sampler: LegalSampler,
                 rng: random.Random, model: RidgeSurrogate, codec: WidthCodec,
                 k: int, probs: GeneProbs | None = None) -> list[tuple[int, ...]]:
        """k unseen legal vectors: the surrogate's best, plus `explore` random children."""
        gen = numpy_rng(rng)
        ranked = log.ranked()
        if not ranked:
            return sampler.sample(rng, k, log.scores)
        parents = np.array([r["widths"] for r in ranked[:self.top_k]], dtype=np.int64)
        parts = [mutate_array(space, parents, self.pool // 2, gen, self.mutate_prob, probs),
                 crossover_array(parents, self.pool - self.pool // 2, gen)]
        if self.local_search:
            parts.append(neighbours_array(space, parents))
        children = np.concatenate(parts)
        children = unseen_unique(codec, children[sampler.legal_mask(children)], log.scores)
        pool = children
        if sampler.enumerated:
            assert sampler.legal is not None
            pool = unseen_unique(codec, sampler.legal, log.scores)
        if len(pool) == 0:
            pool = np.array(sampler.sample(rng, 20 * k, log.scores), dtype=np.int64)
            if len(pool) == 0:
                return []
            children = pool
        seen = np.array([r["widths"] for r in log.history], dtype=np.int64)
        scores = np.array([r["score"] for r in log.history])
        seen_flops = np.array([r["flops"] for r in log.history])
        model.fit(seen, scores, seen_flops)
        pred = model.predict(pool, sampler.budget.batch(space, pool))
        order = np.argsort(-pred, kind="stable")
        exploit = k - min(self.explore, k - 1)
        picks = [tuple(int(v) for v in pool[i]) for i in order[:exploit]]
        # exploration: random children the surrogate did not pick
        chosen = set(picks)
        for i in gen.permutation(len(children)):
            if len(picks) == k:
                break
            w = tuple(int(v) for v in children[i])
            if w not in chosen:
                chosen.add(w)
                picks.append(w)
        for i in order[exploit:]:  # too few unpicked children: keep following the surrogate
            if len(picks) == k:
                break
            w = tuple(int(v) for v in pool[i])
            if w not in chosen:
                chosen.add(w)
                picks.append(w)
        return picks


def _two(parents: list[tuple[int, ...]], rng: random.Random) -> tuple:
    """Two distinct parents (the same one twice when there is only one)."""
    return tuple(rng.sample(parents, 2)) if len(parents) > 1 else (parents[0], parents[0])


def budget_scale(log: SearchLog) -> float:
    """FLOPs are fed to the surrogate as a fraction of the window's high end."""
    return float(log.budget.high)
