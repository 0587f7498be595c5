"""Latency on this CPU: how well a per-layer table predicts whole networks, what rounding
channels to multiples of 8 buys (PyTorch eager and ONNX Runtime), and what a
latency-budgeted search buys over a MACs-budgeted one.

Stages (each resumable: tables and finished units are kept; results are rewritten):
  check     `slimnas latency build` + `check` (50 random widths) on the Channel-Bench-Macro
            MobileNet space as the benchmark has it (1.0x, 32x32x3) and on the 0.25x
            28x28x1 space of vs_alternatives.py; batch 1, 1 thread. Kendall tau of the
            table's predictions and of MACs alone against measured latency, relative error.
  rounding  N random channel-level widths of the CBM MobileNet 1.0x network (every group
            any count in [C/8, C]) against the same widths with every group rounded to the
            nearest multiple of 8 (at least 8): latency in PyTorch eager and in ONNX Runtime
            (batch 1, 1 thread), MACs of both; the speed-up per MAC says what rounding buys
            beyond the MACs it adds or removes.
  search    on vs_alternatives.py's bcnetv2 supernets (Fashion-MNIST, 0.25x, 28x28x1; a
            seed is used once its supernet is finished): a latency budget L (the median
            predicted latency of the widths a 0.5 MACs budget allows, window [0.9, 1.0]);
            the latency search (search.cost latency, budget L) against the MACs search whose
            budget is the largest MACs of a width predicted to fit L (the MACs its
            latency-feasible widths allow; `macs`) and one at the median MACs of the widths
            predicted inside [0.9, 1.0] x L (`macs-median`); each evolution + prior, 60
            queries, the run's seed; latency per batch of 16 on 1 thread (at batch 1 this
            small net is mostly fixed overhead). The winners: measured latency, supernet
            score, MACs, and test top-1 after vs_alternatives' recipe (8 epochs on 30,000
            images, from scratch; 3 seeds).

Timing wants an idle machine: `--pause PID[,PID...]` stops those processes (SIGSTOP) while timing
and resumes them (SIGCONT) after, e.g. a background study. Every results file names its machine.

    python benchmarks/latency.py --stage check [--pause PID]
    python benchmarks/latency.py --stage rounding [--pause PID]
    python benchmarks/latency.py --stage search [--seeds 0,1,2] [--pause PID]
    python benchmarks/latency.py --stage remeasure [--rounds 5] [--pause PID]

`remeasure` times all seeds' winners again in one sitting (a dropped warm-up round, then
interleaved rounds, minimum per network) beside probe widths whose measured / predicted ratio is the machine's drift from
the table: the search stage's own timings come from different sessions and hosts. Within a
round each MACs winner's time over its seed's latency winner's is a paired ratio that holds
on a noisy or other host, where absolute times do not.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from slimnas.io import atomic_write_json, read_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TABLES = RESULTS / "latency_tables"
CBM_FULL = {"name": "cbm-mobilenet", "width_mult": 1.0, "input_size": 32, "in_channels": 3}
STUDY = {"name": "cbm-mobilenet", "width_mult": 0.25, "input_size": 28, "in_channels": 1}
SEARCH_BATCH = 16  # at batch 1 this small net's latency is mostly fixed overhead
WINDOW = (0.9, 1.0)
QUERIES = 60


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def paused(pids: str | None):
    """SIGSTOP the processes `pids` ("PID[,PID...]", e.g. background studies) while timing;
    SIGCONT them after, whatever happens."""
    ids = [int(p) for p in (pids or "").split(",") if p.strip()]
    stopped = []
    try:
        for pid in ids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        if stopped:
            time.sleep(0.5)
        yield
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


def space_of(opts: dict, bins: int = 4):
    from slimnas.width.spaces import get_space

    return get_space(opts["name"], bins=bins, min_bins=1, num_classes=10,
                     **{k: v for k, v in opts.items() if k != "name"})


def machine() -> dict:
    from slimnas.latency import machine as m

    return {**m("cpu"), "threads": torch.get_num_threads()}


def table_for(opts: dict, batch: int, pause) -> tuple:
    from slimnas.latency import build_table
    from slimnas.runs import torch_threads

    space = space_of(opts)
    tag = f"{opts['name']}-{opts['width_mult']}x-{opts['input_size']}-b{batch}-t1"
    path = TABLES / f"{tag}.json"
    with paused(pause), torch_threads(1):
        table = build_table(space, path, batch=batch, threads=1, min_run_time=0.2,
                            log=lambda line: log(f"{tag}: {line}"))
    return space, table, path


# --- check -------------------------------------------------------------------------------
def stage_check(args) -> None:
    from slimnas.latency import check_predictions
    from slimnas.runs import torch_threads

    out = RESULTS / "latency_check.json"
    res = read_json(out) if out.is_file() else {"benchmark": "latency check", "spaces": {}}
    for opts in (CBM_FULL, STUDY):
        space, table, path = table_for(opts, 1, args.pause)
        runs = []
        for _ in range(args.repeats):  # the same widths again: how much timing noise moves it
            with paused(args.pause), torch_threads(1):
                runs.append(check_predictions(space, table, args.n, seed=0,
                                              log=lambda line: log(f"check: {line}")))
        r = runs[0]
        r["repeats"] = [{k: x[k] for k in ("kendall_tau", "kendall_tau_macs",
                                           "median_relative_error", "max_relative_error")}
                        for x in runs]
        r["table"] = str(path.relative_to(HERE.parent))
        r["space"] = opts
        res["spaces"][f"{opts['name']} {opts['width_mult']}x {opts['input_size']}"] = r
        log(f"{opts}: tau {r['kendall_tau']:.3f} (MACs {r['kendall_tau_macs']:.3f}), median "
            f"relative error {100 * r['median_relative_error']:.1f} %")
        res["command"] = "python benchmarks/latency.py --stage check"
        check_intervals(res)
        atomic_write_json(out, res)


def check_intervals(res: dict, n_boot: int = 2000) -> None:
    """Per space: the table's tau minus MACs' tau on the first check's widths, with a 95 %
    bootstrap interval over the widths (seeded)."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    for r in res["spaces"].values():
        p, m, f = (np.array([w[k] for w in r["widths"]]) for k in
                   ("latency_ms_predicted", "latency_ms_measured", "flops_macs"))

        def diff(i, p=p, m=m, f=f):
            return kendalltau(p[i], m[i])[0] - kendalltau(f[i], m[i])[0]
        boot = [diff(rng.integers(0, len(p), len(p))) for _ in range(n_boot)]
        r["tau_table_minus_macs"] = {"value": float(diff(np.arange(len(p)))),
                                     "interval_95": [float(v) for v in
                                                     np.percentile(boot, [2.5, 97.5])],
                                     "n_boot": n_boot, "over": "the 50 widths (resampled)"}


def stage_check_report(args) -> None:
    """Recompute the intervals of a finished check (no timing)."""
    out = RESULTS / "latency_check.json"
    res = read_json(out)
    check_intervals(res)
    atomic_write_json(out, res)


# --- rounding ------------------------------------------------------------------------------
def _ort_session(net, shape, threads: int):
    import tempfile

    import onnxruntime as ort

    from slimnas.exporting import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "m.onnx"
        export_onnx(net.eval(), list(shape), f, torchscript_first=True)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        return ort.InferenceSession(str(f), so, providers=["CPUExecutionProvider"])


def time_ort(net, shape, threads: int = 1, min_run_time: float = 0.2) -> float:
    from torch.utils import benchmark

    sess = _ort_session(net, shape, threads)
    feed = {"input": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    for _ in range(3):
        sess.run(None, feed)
    t = benchmark.Timer(stmt="s.run(None, f)", globals={"s": sess, "f": feed}, num_threads=1)
    return min(t.blocked_autorange(min_run_time=min_run_time).times) * 1e3


def stage_rounding(args) -> None:
    from slimnas.baselines import closed_form_macs
    from slimnas.latency import measure
    from slimnas.runs import torch_threads
    from slimnas.width.net import WidthNet

    spec = space_of(CBM_FULL).spec
    full = list(spec.base_channels)
    shape = (1, spec.in_channels, spec.input_size, spec.input_size)
    out = RESULTS / "latency_rounding.json"
    res = read_json(out) if out.is_file() else {"benchmark": "latency rounding", "pairs": []}
    rng = random.Random(0)
    pairs = [[rng.randint(max(1, c // 8), c) for c in full] for _ in range(args.n)]
    for i, ch in enumerate(pairs):
        if i < len(res["pairs"]):
            continue
        rounded = [max(8, 8 * round(c / 8)) for c in ch]
        row = {"channels": ch, "rounded": rounded}
        with paused(args.pause), torch_threads(1):
            for name, chans in (("raw", ch), ("rounded", rounded)):
                torch.manual_seed(0)
                net = WidthNet(spec, chans, dynamic=False).eval()
                row[f"{name}_macs"] = closed_form_macs(net, torch.zeros(*shape))
                row[f"{name}_eager_ms"] = measure(net, shape[1:], 1, 1, torch.device("cpu"),
                                                  0.2)
                row[f"{name}_ort_ms"] = time_ort(net, shape)
        res["pairs"].append(row)
        log(f"{i + 1}/{len(pairs)}: eager {row['raw_eager_ms']:.3f} -> "
            f"{row['rounded_eager_ms']:.3f} ms, ORT {row['raw_ort_ms']:.3f} -> "
            f"{row['rounded_ort_ms']:.3f} ms, MACs x{row['rounded_macs'] / row['raw_macs']:.3f}")
        _summarise_rounding(res)
        atomic_write_json(out, res)


def _summarise_rounding(res: dict) -> None:
    p = res["pairs"]
    macs = [r["rounded_macs"] / r["raw_macs"] for r in p]
    summary = {"n": len(p), "median_macs_ratio": statistics.median(macs)}
    for rt in ("eager", "ort"):
        lat = [r[f"rounded_{rt}_ms"] / r[f"raw_{rt}_ms"] for r in p]
        per_mac = [lt / m for lt, m in zip(lat, macs, strict=True)]
        summary[rt] = {"median_latency_ratio": statistics.median(lat),
                       "min_latency_ratio": min(lat), "max_latency_ratio": max(lat),
                       "median_latency_per_mac_ratio": statistics.median(per_mac),
                       "faster_when_rounded": sum(x < 1 for x in lat)}
    res.update(summary=summary, machine=machine(), space=CBM_FULL, batch=1, threads=1,
               command="python benchmarks/latency.py --stage rounding",
               note="ratios are rounded / raw: below 1 the rounded network is faster")


# --- search --------------------------------------------------------------------------------
def _study():
    spec = importlib.util.spec_from_file_location("vs_alternatives",
                                                  HERE / "vs_alternatives.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stage_search(args) -> None:
    from slimnas.latency import LatencyCost, check_table
    from slimnas.search.budget import Budget
    from slimnas.search.costs import MACS, all_widths_array, flops_batch

    va = _study()
    space, table, tpath = table_for(STUDY, SEARCH_BATCH, args.pause)
    check_table(table, space, 1)
    cost = LatencyCost(table, space)
    grid = all_widths_array(space, 10**6)
    macs, lat = flops_batch(space, grid), cost.batch(space, grid)
    full = int(macs.max())
    in_macs = (macs >= WINDOW[0] * 0.5 * full) & (macs <= 0.5 * full)
    L = float(np.median(lat[in_macs]))
    B = int(macs[lat <= L].max())
    in_lat = (lat >= WINDOW[0] * L) & (lat <= L)
    M = int(np.median(macs[in_lat]))
    budgets = {"latency": Budget(L, WINDOW, cost), "macs": Budget(B, WINDOW, MACS),
               "macs-median": Budget(M, WINDOW, MACS)}
    out = RESULTS / "latency_search.json"
    res = {"benchmark": "latency-budgeted vs MACs-budgeted search", "machine": machine(),
           "space": STUDY, "table": str(tpath.relative_to(HERE.parent)),
           "batch": SEARCH_BATCH, "threads": 1, "window": list(WINDOW),
           "budget_latency_ms_predicted": L, "budget_flops_macs": B,
           "budget_flops_macs_median": M,
           "budgets_note": "macs: the largest MACs of a width predicted to fit L; "
                           "macs-median: the median MACs of the widths predicted inside "
                           "[0.9, 1.0] x L (a MACs budget translated from L)",
           "command": "python benchmarks/latency.py --stage search", "seeds": {}}
    if out.is_file():
        before = read_json(out)
        res["seeds"] = before.get("seeds", {})
        res.update({k: before[k] for k in ("remeasure", "remeasure_noisy_sittings")
                    if k in before})
    ns = argparse.Namespace(dir=str(RESULTS / "vs_alternatives_runs"), root=None)
    for seed in (int(s) for s in args.seeds.split(",")):
        sdir = Path(ns.dir) / f"seed-{seed}" / "supernet-bcnetv2"
        if not (sdir / "cpu_seconds.json").is_file():
            log(f"seed {seed}: vs_alternatives' supernet is not finished yet; skipped")
            continue
        work = RESULTS / "latency_search_runs" / f"seed-{seed}"
        work.mkdir(parents=True, exist_ok=True)
        s = va.Seed(ns, seed)
        loaded, _ = s.supernet("bcnetv2")
        row = res["seeds"].get(str(seed), {})
        for kind, budget in budgets.items():
            unit = work / f"{kind}.json"
            if unit.is_file():
                row[kind] = read_json(unit)
                continue
            scorer = va.ReplayScorer(loaded.scorer, work / f"{kind}.scores.json")  # resumable
            found = _search(loaded, scorer, budget, seed, cost, sdir / "checkpoint.pt")
            with paused(args.pause):
                found["latency_ms_measured"] = _measured(space, found["widths"])
            log(f"seed {seed} {kind}: {found['key']} MACs {found['flops_macs']:,} predicted "
                f"{found['latency_ms_predicted']:.3f} measured {found['latency_ms_measured']:.3f}"
                f" ms, score {found['supernet_score']:.2f}; training")
            _, rec = s.scratch(found["widths"])
            found.update(test_top1=rec["test_top1"], train_cpu_s=rec["train_cpu_s"],
                         machine=machine())
            atomic_write_json(unit, found)
            row[kind] = found
            res["seeds"][str(seed)] = row
            _write_search(out, res)
        res["seeds"][str(seed)] = row
    _write_search(out, res)


def _write_search(out: Path, res: dict) -> None:
    """Summarise and write, keeping the sittings a remeasure recorded meanwhile (a remeasure
    may run beside a long search)."""
    if out.is_file():
        now = read_json(out)
        res.update({k: now[k] for k in ("remeasure", "remeasure_noisy_sittings")
                    if k in now})
    _summarise_search(res)
    atomic_write_json(out, res)


def _search(loaded, scorer, budget, seed: int, latency, ckpt: Path) -> dict:
    """Evolution from the learned prior (60 queries) at `budget`; the winner's MACs, its
    predicted latency (`latency`: the table's cost) and its supernet score."""
    from slimnas.io import load_checkpoint
    from slimnas.pipeline import prior_sampler
    from slimnas.search.costs import flops_of
    from slimnas.search.evaluators import CachedEvaluator
    from slimnas.search.searchers import get_searcher

    space = loaded.ctx.space
    init = prior_sampler(loaded.cfg, space, load_checkpoint(ckpt)["records"], budget)
    ev = CachedEvaluator(scorer, max_queries=QUERIES)
    r = get_searcher("evolution").search(space, ev, budget, random.Random(seed), init=init)
    best = tuple(r.best)
    return {"widths": list(best), "key": space.key(best), "flops_macs": flops_of(space, best),
            "latency_ms_predicted": latency.of(space, best),
            "supernet_score": r.best_score, "queries": ev.queries,
            "budget": budget.flops, "cost": budget.cost.name}


def _measured(space, widths) -> float:
    from slimnas.latency import measure_network
    from slimnas.runs import torch_threads

    with torch_threads(1):
        return measure_network(space, widths, SEARCH_BATCH, 1, torch.device("cpu"), 0.2)


def stage_remeasure(args) -> None:
    """Time every seed's winners again in one sitting, interleaved, with a drift probe.

    The search stage times each winner when its search ends, and seeds run in different
    sessions, possibly on another host or beside noisy neighbours: those times are not
    comparable. Here all winners (and `--n` probe widths, whose measured / predicted ratio
    says how far this sitting's machine is from the table's) are timed in `--rounds`
    interleaved rounds, keeping each network's minimum. A sitting whose median round spread
    (slowest / fastest round - 1) exceeds `--max-spread` is kept as evidence only."""
    from slimnas.latency import LatencyCost, check_table, load_table
    from slimnas.runs import torch_threads
    from slimnas.search.costs import flops_of

    out = RESULTS / "latency_search.json"
    res = read_json(out)
    space = space_of(STUDY)
    table = load_table(HERE.parent / res["table"])
    check_table(table, space, 1)
    cost = LatencyCost(table, space)
    nets = {f"seed {seed} {kind}": tuple(unit["widths"])
            for seed, row in sorted(res["seeds"].items()) for kind, unit in row.items()}
    rng = random.Random(0)
    probes = {}
    while len(probes) < args.n:
        w = space.sample(rng)
        probes.setdefault(f"probe {space.key(w)}", w)
    everything = {**nets, **probes}
    times = {name: [] for name in everything}
    with paused(args.pause), torch_threads(1):
        # warm-up rounds, timed and dropped: the first round after the background jobs stop
        # ran every network ~1.5-2x slower than the rounds after it (2 Dec, 18:32 UTC)
        for _ in range(args.warmup_rounds):
            for w in everything.values():
                _measured(space, w)
        for r in range(args.rounds):
            for name, w in everything.items():
                times[name].append(_measured(space, w))
            log(f"remeasure: round {r + 1}/{args.rounds} done")
    best = {name: min(t) for name, t in times.items()}
    paired = _paired_ratios(times)
    drift = [best[n] / cost.of(space, w) for n, w in probes.items()]
    spread = [max(t) / min(t) - 1 for t in times.values()]
    attempt = {
        "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "rounds": args.rounds, "warmup_rounds": args.warmup_rounds, "batch": SEARCH_BATCH, "threads": 1,
        "drift_median": statistics.median(drift), "drift_min": min(drift),
        "drift_max": max(drift), "probes": {n: {"widths": list(w), "flops_macs":
                                               flops_of(space, w), "times_ms": times[n],
                                               "predicted_ms": cost.of(space, w)}
                                           for n, w in probes.items()},
        "median_round_spread": statistics.median(spread), "max_spread": args.max_spread,
        "note": "drift = measured / table-predicted latency of the probe widths in this "
                "sitting (1.0: the machine is as fast as when the table was built); "
                "round spread = slowest / fastest round of a network - 1 (timing noise)",
        "winners": {n: {"times_ms": times[n], "min_ms": best[n]} for n in nets},
        "paired_to_latency_winner": paired,
        "paired_note": "per seed, each MACs search's winner / that seed's latency winner, "
                       "timed seconds apart in the same round: a host's speed and its slow "
                       "spells cancel, so the ratio holds where absolute times do not",
        "command": "python benchmarks/latency.py --stage remeasure"}
    log(f"remeasure: drift median {attempt['drift_median']:.3f} "
        f"({min(drift):.3f}-{max(drift):.3f}), round spread median "
        f"{100 * attempt['median_round_spread']:.1f} %")
    for n in nets:
        log(f"{n}: {best[n]:.3f} ms (rounds {', '.join(f'{t:.2f}' for t in times[n])})")
    for n, r in paired.items():
        log(f"{n} / latency winner: median {r['median']:.2f} "
            f"(rounds {r['min']:.2f}-{r['max']:.2f})")
    if attempt["median_round_spread"] > args.max_spread:
        # a noisy sitting ranks nothing: keep it as evidence, change no winner's time
        res.setdefault("remeasure_noisy_sittings", []).append(attempt)
        _summarise_search(res)  # the paired ratios hold on a noisy machine
        atomic_write_json(out, res)
        log(f"remeasure: too noisy (median round spread above {100 * args.max_spread:.0f} "
            "%): recorded under remeasure_noisy_sittings, winners' times unchanged; rerun "
            "when the machine is quiet")
        return
    res["remeasure"] = attempt
    for seed, row in res["seeds"].items():
        for kind, unit in row.items():
            unit["latency_ms_remeasured"] = best[f"seed {seed} {kind}"]
    _summarise_search(res)
    atomic_write_json(out, res)


def _paired_ratios(times: dict) -> dict:
    """{"seed S kind": median/min/max over rounds of kind's time / the latency winner's in
    the same round} for every seed with a latency winner and kind in macs, macs-median."""
    out = {}
    for name, t in times.items():
        seed, _, kind = name.rpartition(" ")
        ref = times.get(f"{seed} latency")
        if not name.startswith("seed ") or kind == "latency" or ref is None:
            continue
        ratios = [a / b for a, b in zip(t, ref, strict=True)]
        out[name] = {"median": statistics.median(ratios), "min": min(ratios),
                     "max": max(ratios), "rounds": ratios}
    return out


def _latest_paired(res: dict, seeds: list[str]) -> dict | None:
    """The quiet sitting, if it timed every one of `seeds`' winners, else the newest noisy
    one that did."""
    every = _all_paired(res, seeds)
    quiet = [s for s in every if s is res.get("remeasure")]
    return quiet[0] if quiet else max(every, key=lambda s: s["when"]) if every else None


def _all_paired(res: dict, seeds: list[str]) -> list[dict]:
    """Every sitting (quiet or noisy) that timed all of `seeds`' winners, with its paired
    ratios (filled in from the stored times for sittings recorded before they were)."""
    sittings = res.get("remeasure_noisy_sittings", []) + (
        [res["remeasure"]] if "remeasure" in res else [])
    for s in sittings:  # sittings recorded before the ratios were: from their stored times
        s.setdefault("paired_to_latency_winner", _paired_ratios(
            {n: w["times_ms"] for n, w in s["winners"].items()}))
    return [s for s in sittings if all(f"seed {seed} {kind}" in s["winners"] for seed in seeds
                                       for kind in ("latency", "macs", "macs-median"))]


def _summarise_search(res: dict) -> None:
    rows = [r for r in res["seeds"].values()
            if all(k in r for k in ("latency", "macs", "macs-median"))]
    if not rows:
        return
    summary = {}
    re = res.get("remeasure")
    for kind in ("latency", "macs", "macs-median"):
        acc = [r[kind]["test_top1"] for r in rows]
        meas = [r[kind]["latency_ms_measured"] for r in rows]
        summary[kind] = {
            "test_top1_mean": statistics.fmean(acc),
            "test_top1_std": statistics.stdev(acc) if len(acc) > 1 else None,
            "latency_ms_measured_mean": statistics.fmean(meas),
            "over_latency_budget": sum(m > res["budget_latency_ms_predicted"] for m in meas),
            "predicted_over_latency_budget": sum(
                r[kind]["latency_ms_predicted"] > res["budget_latency_ms_predicted"]
                for r in rows),
            "supernet_score_mean": statistics.fmean(r[kind]["supernet_score"] for r in rows),
            "flops_macs_mean": statistics.fmean(r[kind]["flops_macs"] for r in rows),
        }
        if re and all("latency_ms_remeasured" in r[kind] for r in rows):
            again = [r[kind]["latency_ms_remeasured"] for r in rows]
            budget = res["budget_latency_ms_predicted"]
            summary[kind].update(
                latency_ms_remeasured_mean=statistics.fmean(again),
                over_latency_budget_remeasured=sum(m > budget for m in again),
                over_latency_budget_drift_corrected=sum(
                    m > budget * re["drift_median"] for m in again))
    seeds = [seed for seed, r in res["seeds"].items()
             if all(k in r for k in ("latency", "macs", "macs-median"))]
    sitting = _latest_paired(res, seeds)
    if sitting:
        for kind in ("macs", "macs-median"):
            med = [sitting["paired_to_latency_winner"][f"seed {seed} {kind}"]["median"]
                   for seed in seeds]
            summary[kind].update(
                time_vs_latency_winner_per_seed=med,
                time_vs_latency_winner_mean=statistics.fmean(med),
                time_vs_latency_winner_sitting=sitting["when"],
                time_vs_latency_winner_sitting_spread=sitting["median_round_spread"])
        every = _all_paired(res, seeds)
        for kind in ("macs", "macs-median"):
            meds = [[s["paired_to_latency_winner"][f"seed {seed} {kind}"]["median"]
                     for s in every] for seed in seeds]
            summary[kind].update(
                time_vs_latency_winner_sittings=len(every),
                time_vs_latency_winner_range_per_seed=[[min(m), max(m)] for m in meds],
                latency_winner_faster_in_every_sitting=all(x > 1 for m in meds for x in m))
    summary["n_seeds"] = len(rows)
    res["summary"] = summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", required=True,
                    choices=("check", "check-report", "rounding", "search", "remeasure"))
    ap.add_argument("--n", type=int, default=None,
                    help="widths (check: 50), pairs (rounding: 50) or probes (remeasure: 12)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--repeats", type=int, default=3, help="check: measurements of the widths")
    ap.add_argument("--rounds", type=int, default=5, help="remeasure: interleaved rounds")
    ap.add_argument("--warmup-rounds", type=int, default=1,
                    help="remeasure: rounds timed first and dropped")
    ap.add_argument("--max-spread", type=float, default=0.05,
                    help="remeasure: the largest median round spread of a usable sitting")
    ap.add_argument("--pause", default=None,
                    help="PID[,PID...] to stop while timing")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for training")
    args = ap.parse_args()
    if args.n is None:
        args.n = 12 if args.stage == "remeasure" else 50
    torch.set_num_threads(args.threads)
    TABLES.mkdir(parents=True, exist_ok=True)
    {"check": stage_check, "check-report": stage_check_report, "rounding": stage_rounding,
     "search": stage_search, "remeasure": stage_remeasure}[args.stage](args)


if __name__ == "__main__":
    main()
