"""Does one scorer rank widths better than another? Rank statistics with paired bootstrap
intervals, for a ground truth with several training seeds and scorers (supernets) with
several seeds each.

`compare_scorers(scores, truth, flops)`:
- `scores`: {scorer: [{key: score} for each scorer seed]} (a supernet rule's seeds);
- `truth`: {key: [top-1 of each truth seed]} (every key with the same number of seeds);
- `flops`: {key: MACs}; "FLOPs alone" joins the scorers as one more (seedless) scorer.
Per scorer, over the keys every table has: Kendall tau-b against the seed-mean truth
(the primary statistic), Spearman, and Kendall tau beyond FLOPs (of the residuals of a
least-squares fit on log FLOPs, score and truth alike), each the mean over the scorer's
seeds (`per_seed`: each seed's own value). Intervals: a paired bootstrap (`n_boot`
replicates, seeded) that resamples, in every replicate, the architectures (with
replacement), each scorer's seeds and the truth's seeds (each with replacement), the
SAME resample for every scorer, so differences between scorers are paired; 95 %
percentile intervals for each statistic and each pairwise difference. The ceiling: the
truth's own seed-vs-seed Kendall tau (the mean over pairs of seeds, each pair's in
`pairs`), with its interval.

`decide(result, fair, baselines)`: "A ranks better" for every A in `fair` only if A beats
every baseline on the primary statistic with a paired interval excluding zero.
"""

from __future__ import annotations

import itertools
import random
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from slimnas.errors import SlimnasError

FLOPS = "FLOPs alone"
STATS = ("kendall_tau", "spearman", "kendall_tau_beyond_flops")


def _residuals(values: np.ndarray, log_flops: np.ndarray) -> np.ndarray:
    a = np.vstack([log_flops, np.ones_like(log_flops)]).T
    coef, *_ = np.linalg.lstsq(a, values, rcond=None)
    return values - a @ coef


def _tau(a: np.ndarray, b: np.ndarray) -> float:
    v = kendalltau(a, b)[0]
    return float("nan") if v is None else float(v)


def _stats(score: np.ndarray, truth: np.ndarray, log_flops: np.ndarray) -> np.ndarray:
    return np.array([_tau(score, truth), float(spearmanr(score, truth)[0]),
                     _tau(_residuals(score, log_flops), _residuals(truth, log_flops))])


def _seed_stats(tables: np.ndarray, truth_mean: np.ndarray,
                log_flops: np.ndarray) -> np.ndarray:
    """Each statistic for each of the scorer's seeds (rows of `tables`): (seeds, stats)."""
    return np.array([_stats(row, truth_mean, log_flops) for row in tables])


def _mean_over_seeds(rows: np.ndarray) -> np.ndarray:
    """Mean over the scorer's seeds (rows) of each statistic (NaN where every seed's is
    undefined, e.g. FLOPs alone beyond FLOPs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(rows, axis=0)


def compare_scorers(scores: dict[str, Sequence[dict]], truth: dict[str, Sequence[float]],
                    flops: dict[str, float], n_boot: int = 2000, seed: int = 0,
                    level: float = 0.95) -> dict:
    keys = [k for k in truth if k in flops and all(k in t for ts in scores.values() for t in ts)]
    if len(keys) < 4:
        raise SlimnasError(f"only {len(keys)} architectures are in every table; need >= 4")
    seeds_truth = {len(truth[k]) for k in keys}
    if len(seeds_truth) != 1 or seeds_truth == {1}:
        raise SlimnasError("every truth entry needs the same number (>= 2) of seeds")
    t = np.array([truth[k] for k in keys], dtype=float)  # (archs, truth seeds)
    lf = np.log(np.array([flops[k] for k in keys], dtype=float))
    tables = {name: np.array([[tab[k] for k in keys] for tab in tabs], dtype=float)
              for name, tabs in scores.items()}
    tables[FLOPS] = lf[None, :]
    names = list(tables)

    def evaluate(arch: np.ndarray, truth_seeds: np.ndarray, scorer_seeds: dict) -> dict:
        tm = t[np.ix_(arch, truth_seeds)].mean(axis=1)
        return {n: _mean_over_seeds(_seed_stats(tables[n][np.ix_(scorer_seeds[n], arch)], tm,
                                                 lf[arch]))
                for n in names}

    def ceiling(arch: np.ndarray, truth_seeds: np.ndarray) -> float:
        pairs = [(a, b) for a, b in itertools.combinations(range(len(truth_seeds)), 2)
                 if truth_seeds[a] != truth_seeds[b]]
        if not pairs:
            return float("nan")
        return float(np.mean([_tau(t[arch, truth_seeds[a]], t[arch, truth_seeds[b]])
                              for a, b in pairs]))

    per_seed = {n: _seed_stats(tables[n], t.mean(axis=1), lf) for n in names}
    point = {n: _mean_over_seeds(per_seed[n]) for n in names}
    rng = np.random.default_rng(random.Random(seed).getrandbits(64))
    boot = {n: [] for n in names}
    boot_ceiling = []
    for _ in range(n_boot):
        arch = rng.integers(0, len(keys), len(keys))
        ts = rng.integers(0, t.shape[1], t.shape[1])
        ss = {n: rng.integers(0, len(tables[n]), len(tables[n])) for n in names}
        rep = evaluate(arch, ts, ss)
        for n in names:
            boot[n].append(rep[n])
        boot_ceiling.append(ceiling(arch, ts))
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def interval(samples) -> list[float]:
        s = np.asarray(samples, dtype=float)
        s = s[~np.isnan(s)]
        return [float(np.percentile(s, lo_q)), float(np.percentile(s, hi_q))] if len(s) else \
            [float("nan")] * 2

    out = {"architectures": len(keys), "truth_seeds": int(t.shape[1]), "n_boot": n_boot,
           "level": level, "scorers": {}, "differences": {},
           "ceiling": {"kendall_tau": ceiling(np.arange(len(keys)), np.arange(t.shape[1])),
                       "pairs": {f"{a}-{b}": _tau(t[:, a], t[:, b]) for a, b in
                                 itertools.combinations(range(t.shape[1]), 2)},
                       "interval": interval(boot_ceiling)}}
    for n in names:
        b = np.array(boot[n])
        out["scorers"][n] = {"seeds": len(tables[n]) if n != FLOPS else 0,
                             **{s: float(point[n][i]) for i, s in enumerate(STATS)},
                             "per_seed": {s: [float(v) for v in per_seed[n][:, i]]
                                          for i, s in enumerate(STATS)},
                             "intervals": {s: interval(b[:, i]) for i, s in enumerate(STATS)}}
    for a, b_name in itertools.permutations(names, 2):
        d = np.array(boot[a]) - np.array(boot[b_name])
        out["differences"][f"{a} - {b_name}"] = {
            s: {"value": float(point[a][i] - point[b_name][i]), "interval": interval(d[:, i])}
            for i, s in enumerate(STATS)}
    return out


def decide(result: dict, fair: Sequence[str], baselines: Sequence[str],
           statistic: str = "kendall_tau") -> dict:
    """Each of `fair` beats each of `baselines` on `statistic` with a paired interval
    above zero? {"holds", "pairs": {"A - B": {"value", "interval", "beats"}}}."""
    pairs = {}
    for a in fair:
        for b in baselines:
            d = result["differences"][f"{a} - {b}"][statistic]
            pairs[f"{a} - {b}"] = {**d, "beats": d["interval"][0] > 0}
    return {"statistic": statistic, "holds": all(p["beats"] for p in pairs.values()),
            "pairs": pairs}
