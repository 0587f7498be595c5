"""A ranking study that can decide (README: "A ranking study that can decide", its design
fixed before any result).

    python benchmarks/decisive_study.py --stage keys      # choose the pilot's 24 widths
    python benchmarks/decisive_study.py --stage pilot     # build their truth (2 seeds), gate;
                                                          # a failed gate: the 16-epoch re-pilot
    python benchmarks/decisive_study.py --stage truth     # after the gate: 48 (+ 7 known) widths x 3 seeds
    python benchmarks/decisive_study.py --stage compute   # BCNetV2 at two compute levels,
                                                          # and the level chosen from them
    python benchmarks/decisive_study.py --stage supernets # 5 rules x 2 seeds at that level
    python benchmarks/decisive_study.py --stage report    # statistics and the verdict
    python benchmarks/decisive_study.py --stage all --jobs 2   # truth .. report, resumable
    python benchmarks/decisive_study.py --stage plot      # redraw the PNG from the JSON
    python benchmarks/decisive_study.py --stage table     # the README's table from the JSON

Every supernet trains with `train.compute` (the same MACs for every rule), is scored on the
truth's keys (the 5,000 held-out images, 20 recalibration batches of 128) and keeps its
scores beside its checkpoint; every stage resumes.

Space, data and recipe are those of benchmarks/vs_alternatives.py; the truth is a
`bench build` (resumable, growable) whose runs are exactly that study's from-scratch runs,
so its window widths trained from scratch at budget 0.5 are taken as known runs.
Writes benchmarks/results/decisive_study.json with `pilot`, `gate` and `verdict` sections
(and .png). The work directory (supernets, their scores) is inside the repository
(benchmarks/results/decisive_study_runs/), like vs_alternatives', so the study continues
across sessions and machines; the truths are `bench build` files, resumable from their
`.partial`.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from slimnas.io import atomic_write_json, read_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vs_alternatives as va  # noqa: E402  (the space, split and recipe)

BUDGET = 0.5
PILOT_HALF = 12  # widths without a 1-bin group, and as many with one
GATE_TAU = 0.3
RE_PILOT_EPOCHS = 16  # the one longer recipe a failed gate allows
# ... trained in the channels-last memory format: the same recipe to float rounding, ~1.6x
# faster on this CPU (benchmarks/channels_last.py); chosen before any re-pilot run
RE_PILOT_FORMAT = {"channels_last": True}
FULL_HALF = 24  # the full truth: 2 x 24 window widths (the pilot's 24 and as many more)
FULL_SEEDS = 3
BASE_COMPUTE = 6.4e12  # MACs: vs_alternatives' 8-epoch BCNetV2 supernet (6.42e12)
BUILD = {"space": "cbm-mobilenet", "options": {"width_mult": 0.25}, "data": "fashion-mnist",
         "bins": 4, "epochs": va.EPOCHS, "batch_size": va.BATCH, "lr": va.LR,
         "weight_decay": 5e-4, "train_size": va.SUBSET, "held_out": va.HELD_OUT,
         "pad": 2, "flip": True, "seed": 0}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def window_space():
    """(the plain space, every width in the budget's window as an array, their MACs)."""
    from slimnas.search.costs import all_widths_array, flops_batch, flops_of
    from slimnas.width.spaces import get_space

    space = get_space("cbm-mobilenet", bins=4, min_bins=1, width_mult=0.25, input_size=28,
                      in_channels=1, num_classes=10)
    grid = all_widths_array(space, 100_000)
    macs = flops_batch(space, grid)
    budget = BUDGET * flops_of(space, space.max_widths())
    inside = (macs >= va.WINDOW[0] * budget) & (macs <= va.WINDOW[1] * budget)
    return space, grid[inside], macs[inside]


def stratified(widths: np.ndarray, macs: np.ndarray, n: int, rng: random.Random) -> list:
    """One seeded pick from each of n equal-count MACs strata."""
    order = np.argsort(macs, kind="stable")
    return [tuple(int(v) for v in widths[rng.choice(list(part))])
            for part in np.array_split(order, n)]


def choose_keys(out: Path) -> list[str]:
    if out.is_file():
        return read_json(out)["keys"]
    space, widths, macs = window_space()
    ones = (widths == 1).any(axis=1)
    rng = random.Random(20261202)
    picks = stratified(widths[~ones], macs[~ones], PILOT_HALF, rng) + \
        stratified(widths[ones], macs[ones], PILOT_HALF, rng)
    keys = [space.key(w) for w in picks]
    atomic_write_json(out, {"keys": keys, "window_widths": int(len(widths)),
                            "without_1bin": int((~ones).sum()), "with_1bin": int(ones.sum()),
                            "budget": BUDGET, "window": list(va.WINDOW)})
    return keys


def known_runs(va_dir: Path) -> dict:
    """vs_alternatives' from-scratch window widths at budget 0.5: {key: {seed: top-1}}."""
    runs: dict = {}
    for f in sorted(va_dir.glob(f"seed-*/b{BUDGET}-*.json")):
        r = read_json(f)
        method = f.stem.split("-", 1)[1]
        if method in ("search-scratch", "random", "greedy") and r.get("in_window") \
                and "key" in r:
            seed = int(f.parent.name.split("-")[1])
            runs.setdefault(r["key"], {})[seed] = r["test_top1"]
    return runs


def gate(truth: dict, keys: list[str], n_boot: int = 2000) -> dict:
    """The truth's seed-0-vs-seed-1 Kendall tau over `keys` built with both seeds (the gate
    judges the point value, as designed), with the bootstrap 95 % interval of
    `compare_scorers`' ceiling, and FLOPs' own tau against the seed mean beside it."""
    from scipy.stats import kendalltau

    from slimnas.bench.compare import FLOPS, compare_scorers

    both = [k for k in keys if k in truth and len(truth[k]["acc"]) >= 2]
    a = [truth[k]["acc"][0] for k in both]
    b = [truth[k]["acc"][1] for k in both]
    tau = float(kendalltau(a, b)[0]) if len(both) > 2 else None
    out = {"architectures": len(both), "seed0_vs_seed1_kendall_tau": tau,
           "threshold": GATE_TAU, "passed": None if tau is None else tau >= GATE_TAU}
    if len(both) >= 4:  # compare_scorers' minimum
        has_flops = all("flops" in truth[k] for k in both)
        with warnings.catch_warnings():  # resamples of few widths can be constant
            warnings.simplefilter("ignore")
            res = compare_scorers({}, {k: truth[k]["acc"][:2] for k in both},
                                  {k: truth[k]["flops"] if has_flops else 1.0 for k in both},
                                  n_boot=n_boot)
        out["interval_95"] = res["ceiling"]["interval"]
        if has_flops:
            out["flops_vs_seed_mean_kendall_tau"] = res["scorers"][FLOPS]["kendall_tau"]
    if len(both) >= 3:
        out["spread"] = spread(a, b)
    return out


def spread(a: list[float], b: list[float]) -> dict:
    """How far apart the widths truly are, against one run's noise, from two runs of each.

    A run's noise sd is the sd of the two runs' difference / sqrt 2; the seed means' variance
    is the true variance plus noise^2 / 2, so the true spread is what is left. With one run
    of each width as a noisy reading of its true value, the runs' correlation is
    r = true^2 / (true^2 + noise^2), and for normal errors Kendall tau = (2 / pi) arcsin r:
    the tau the spread implies, a check on the measured one."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    means = (a_ + b_) / 2
    noise = float(np.std(a_ - b_, ddof=1) / np.sqrt(2))
    sd = float(np.std(means, ddof=1))
    true = float(np.sqrt(max(0.0, sd ** 2 - noise ** 2 / 2)))
    r = true ** 2 / (true ** 2 + noise ** 2) if noise > 0 else 1.0
    return {"seed_mean_range": [float(means.min()), float(means.max())],
            "seed_mean_sd": sd, "run_noise_sd": noise, "true_spread_sd": true,
            "true_over_noise": true / noise if noise > 0 else None,
            "implied_kendall_tau": float(2 / np.pi * np.arcsin(r))}


RULES = {  # label: (rule, complementary, rule_options, train options)
    "UA": ("ua", False, {}, {}),
    "AutoSlim": ("ua", False, {}, {"sandwich": True, "inplace_distill": True}),
    "BCNet": ("bcnet", True, {}, {}),
    "BCNetV2": ("bcnetv2", True, {}, {}),
    "CafeNet": ("cafenet", False, {"offset": 1, "candidates": 4}, {}),
}


def unit_dir(args, label: str, seed: int, compute: float) -> Path:
    return Path(args.dir) / f"{label}-c{compute:.3g}-seed{seed}"


def choose_compute(levels: dict) -> dict:
    """The supernets' training compute, by the rule fixed before any level was measured
    (README): the larger level if BCNetV2's Kendall tau inside the window is higher there
    than at the smaller one (tau still grows with compute), else the smaller one (more
    compute buys nothing measurable, so it is not spent)."""
    (lo, a), (hi, b) = sorted(((float(c), r["kendall_tau"]) for c, r in levels.items()))
    pick = hi if b > a else lo
    return {"compute": pick, "taus": {f"{lo:.3g}": a, f"{hi:.3g}": b},
            "rule": "the larger level if BCNetV2's tau is higher there, else the smaller"}


def _unit(args, label: str, seed: int, compute: float, keys: list[str]) -> tuple:
    if args.smoke:  # a spawned worker starts from the module's own settings
        apply_smoke()
    if getattr(args, "threads", 0):  # scoring too, not only the training
        import torch

        torch.set_num_threads(args.threads)
    return label, seed, compute, supernet_scores(args, label, seed, compute, keys)


def run_units(args, units: list[tuple[str, int, float]], keys: list[str]) -> dict:
    """Train (or resume) and score each (label, seed, compute) unit: {unit: scores}. With
    --jobs N > 1, N units at once, each in its own spawned process with one torch thread
    (a unit's result depends on its seed and thread count only); a failed unit stops the
    stage, and finished or checkpointed units are kept for the rerun."""
    if args.jobs <= 1 or len(units) <= 1:
        return {(lab, s, c): supernet_scores(args, lab, s, c, keys) for lab, s, c in units}
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    one = argparse.Namespace(**{**vars(args), "threads": 1})
    out = {}
    with ProcessPoolExecutor(min(args.jobs, len(units)),
                             mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_unit, one, lab, s, c, keys) for lab, s, c in units]
        for fut in futures:
            lab, s, c, scores = fut.result()
            out[(lab, s, c)] = scores
    return out


def supernet_scores(args, label: str, seed: int, compute: float, keys: list[str]) -> dict:
    """Train (or resume) one supernet at `compute` MACs and score `keys` in it (cached)."""
    from slimnas.runs import CHECKPOINT
    from slimnas.width.checkpoint import load_supernet
    from slimnas.width.train import train_supernet

    rule, complementary, options, train = RULES[label]
    out = unit_dir(args, label, seed, compute)
    cfg = va.base_config(args, seed, out, rule, compute=compute, **train)
    cfg.update({"complementary": complementary, "rule_options": dict(options),
                "threads": getattr(args, "threads", 0)})
    ckpt, cache = out / CHECKPOINT, out / "scores.json"
    scores = read_json(cache) if cache.is_file() else {}
    if not (out / "done.json").is_file():
        log(f"supernet {label} seed {seed} at {compute:.3g} MACs "
            f"({'resume' if ckpt.is_file() else 'start'})")
        c0, ckpt_existed = va.cpu_seconds(), ckpt.is_file()
        summary = train_supernet(cfg, resume=ckpt_existed)
        atomic_write_json(out / "done.json", {
            "steps": summary["steps"], "compute_macs": summary["compute_macs"],
            "train_cpu_s": round(va.cpu_seconds() - c0, 1), "resumed": ckpt_existed,
            "machine": va.unit_machine()})  # its thread count: the one that trained
    todo = [k for k in keys if k not in scores]
    if todo:
        loaded = load_supernet(ckpt)
        space = loaded.ctx.space
        for i, k in enumerate(todo):
            scores[k] = loaded.scorer.score(space.parse(k))
            if i % 10 == 9:
                atomic_write_json(cache, scores)
        atomic_write_json(cache, scores)
    return scores


def report(args, compute: float, seeds: int) -> dict:
    from slimnas.bench.compare import FLOPS, compare_scorers, decide

    truth = read_json(args.truth)
    keys = [k for k in truth if len(truth[k]["acc"]) >= 2]
    scores = {}
    for label in RULES:
        runs = []
        for seed in range(seeds):
            cache = unit_dir(args, label, seed, compute) / "scores.json"
            if cache.is_file():
                runs.append(read_json(cache))
        if runs:
            scores[label] = runs
    res = compare_scorers(scores, {k: truth[k]["acc"] for k in keys},
                          {k: truth[k]["flops"] for k in keys}, n_boot=args.boot)
    fair = [r for r in ("BCNet", "BCNetV2") if r in scores]
    base = [r for r in ("UA", "AutoSlim") if r in scores] + [FLOPS]
    res["decision"] = decide(res, fair, base)
    if "CafeNet" in scores:
        res["decision_cafenet"] = decide(res, ["CafeNet"], base)
    return res


def re_pilot_recipe() -> dict:
    """The pilot's `bench build` recipe, longer (and in the re-pilot's memory format)."""
    return {**BUILD, "epochs": RE_PILOT_EPOCHS, **RE_PILOT_FORMAT}


def re_pilot_path(args) -> str:
    p = Path(args.truth)
    return str(p.with_name(f"{p.stem}_{RE_PILOT_EPOCHS}ep{p.suffix}"))


def passed_truth(args, result: dict) -> str:
    """The truth whose gate passed (the pilot's, else the re-pilot's); else one clear exit."""
    if result.get("gate", {}).get("passed"):
        return args.truth
    if result.get("gate_re_pilot", {}).get("passed"):
        return re_pilot_path(args)
    sys.exit("decisive_study: no gate has passed (run --stage pilot first); the study stops "
             "at the pilot, as its design says")


def full_truth(args, result: dict, pilot_keys: list[str], known: dict, work: Path) -> None:
    """Grow the passing truth to 2 x FULL_HALF window widths x FULL_SEEDS seeds."""
    from slimnas.bench.build import build_benchmark

    truth = passed_truth(args, result)
    space, widths, macs = window_space()
    taken = set(pilot_keys)
    keep = np.array([space.key(w) not in taken for w in widths])
    ones = (widths == 1).any(axis=1)
    rng = random.Random(20261203)
    n = FULL_HALF - PILOT_HALF  # more widths of each half (without / with a 1-bin group)
    extra = stratified(widths[keep & ~ones], macs[keep & ~ones], n, rng) + \
        stratified(widths[keep & ones], macs[keep & ones], n, rng)
    keys = list(dict.fromkeys([*pilot_keys, *(space.key(w) for w in extra), *known]))
    keys_file = work / "full_keys.txt"
    keys_file.write_text("\n".join(keys) + "\n")
    res = build_benchmark(archs=None, seeds=FULL_SEEDS, out=truth, root=args.root,
                          keys_file=keys_file, known_runs=known if truth == args.truth
                          else None, jobs=args.jobs, progress=False,
                          **(BUILD if truth == args.truth else re_pilot_recipe()))
    result["full_truth"] = {"keys": keys, "seeds": FULL_SEEDS, "build": res, "truth": truth,
                            "seed_vs_seed": gate(read_json(truth), keys)}
    atomic_write_json(args.out, result)


def outcome(pair: dict) -> str:
    """A paired difference in words: "better" by decide()'s own rule (its `beats`, the
    interval above zero), "worse" (below zero), else "no difference"."""
    return "better" if pair["beats"] else "worse" if pair["interval"][1] < 0 else \
        "no difference"


def verdict(study: dict) -> str:
    """The decision in one line: holds only if every fair rule beats every baseline; else
    how many pairs are better, worse, and no different (the interval through zero)."""
    d = study["decision"]
    words = [outcome(p) for p in d["pairs"].values()]
    holds = "holds" if d["holds"] else "does not hold"
    return (f"fairness ranks better {holds}: BCNet and BCNetV2 against UA, AutoSlim and FLOPs "
            f"alone on Kendall tau inside the window (paired 95 % intervals): of "
            f"{len(words)} pairs {words.count('better')} better, {words.count('worse')} worse, "
            f"{words.count('no difference')} no difference; ceiling "
            f"{study['ceiling']['kendall_tau']:.2f}")


def table(study: dict) -> str:
    """The README's per-scorer table (markdown) from the study's figures."""
    from slimnas.bench.compare import FLOPS, decide

    def iv(x: dict, s: str) -> str:
        lo, hi = x["intervals"][s]
        return f"{x[s]:.2f} ({lo:.2f}..{hi:.2f})"

    fair = ("BCNet", "BCNetV2", "CafeNet")
    base = [n for n in ("UA", "AutoSlim", FLOPS) if n in study["scorers"]]
    rows = ["| scorer | seeds | Kendall tau per seed | Kendall tau (95 %) | Spearman (95 %) "
            "| tau beyond FLOPs (95 %) |", "|---|---|---|---|---|---|"]
    for n, x in study["scorers"].items():
        per = ", ".join(f"{v:.2f}" for v in x["per_seed"]["kendall_tau"]) if x["seeds"] else ""
        beyond = iv(x, "kendall_tau_beyond_flops") if n != FLOPS else ""
        rows.append(f"| {n} | {x['seeds']} | {per} | {iv(x, 'kendall_tau')} | "
                    f"{iv(x, 'spearman')} | {beyond} |")
    rows += ["", "| Kendall tau difference (95 %) | " + " | ".join(base) + " |",
             "|---|" + "---|" * len(base)]
    for a in (f for f in fair if f in study["scorers"]):
        pairs = decide(study, [a], base)["pairs"]
        cells = [f"{p['value']:+.2f} ({p['interval'][0]:+.2f}..{p['interval'][1]:+.2f}) "
                 f"{outcome(p)}" for p in pairs.values()]
        rows.append(f"| {a} - | " + " | ".join(cells) + " |")
    c = study["ceiling"]
    each = ", ".join(f"{k} {v:.2f}" for k, v in c.get("pairs", {}).items())
    rows.append(f"\nceiling (truth seed vs seed, mean pair tau): {c['kendall_tau']:.2f} "
                f"({c['interval'][0]:.2f}..{c['interval'][1]:.2f}; pairs {each}); "
                f"{study['architectures']} widths x {study['truth_seeds']} truth seeds")
    return "\n".join(rows)


def plot(result: dict, file: Path) -> None:
    """The gate(s) and each width's two runs; once the study has run, each scorer's tau
    with its interval in a third panel, on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study = result.get("study")
    fig, axes = plt.subplots(1, 3 if study else 2, figsize=(16 if study else 10, 4.5),
                             squeeze=False)
    ax = axes[0, 0]
    gates = [(f"pilot ({BUILD['epochs']} ep)", result.get("gate", {}),
              result.get("pilot", {}).get("truth")),
             (f"re-pilot ({RE_PILOT_EPOCHS} ep)", result.get("gate_re_pilot", {}),
              result.get("re_pilot", {}).get("truth"))]
    gates = [g for g in gates if g[1].get("seed0_vs_seed1_kendall_tau") is not None]
    taus = [g["seed0_vs_seed1_kendall_tau"] for _, g, _ in gates]
    spans = [g.get("interval_95", [t, t]) for t, (_, g, _) in zip(taus, gates, strict=True)]
    err = [[max(0.0, t - lo) for t, (lo, _) in zip(taus, spans, strict=True)],
           [max(0.0, hi - t) for t, (_, hi) in zip(taus, spans, strict=True)]]
    if gates:
        ax.bar([n for n, _, _ in gates], taus, yerr=err, capsize=6, color="C1")
    ax.set_ylabel("truth seed 0 vs seed 1, Kendall tau (95 % interval)")
    ax.axhline(0, color="k", lw=0.5)
    ax.axhline(GATE_TAU, color="C3", ls=":", label=f"gate {GATE_TAU}")
    ax.legend(fontsize=8)
    ax.set_title("the gates (pilot widths)", fontsize=9)
    side = axes[0, 1]  # each width's two runs, one point per width
    for i, (name, g, truth_file) in enumerate(gates):
        if not truth_file or not Path(truth_file).is_file():
            continue
        truth = read_json(truth_file)
        pairs = [truth[k]["acc"][:2] for k in result["pilot"]["keys"]
                 if k in truth and len(truth[k]["acc"]) >= 2]
        side.scatter([a for a, _ in pairs], [b for _, b in pairs], s=14, color=f"C{i}",
                     label=f"{name}: tau {g['seed0_vs_seed1_kendall_tau']:.2f}")
    side.set_xlabel("test top-1 %, run (seed) 0")
    side.set_ylabel("test top-1 %, run (seed) 1")
    side.set_title("the pilot's widths, two runs each", fontsize=9)
    if gates:
        side.legend(fontsize=8)
    if study:
        ax = axes[0, 2]
        names = list(study["scorers"])
        vals = [study["scorers"][n]["kendall_tau"] for n in names]
        # a percentile interval need not contain the point: clip the bars at it
        lo = [max(0.0, v - study["scorers"][n]["intervals"]["kendall_tau"][0])
              for n, v in zip(names, vals, strict=True)]
        hi = [max(0.0, study["scorers"][n]["intervals"]["kendall_tau"][1] - v)
              for n, v in zip(names, vals, strict=True)]
        ax.bar(names, vals, yerr=[lo, hi], capsize=4, color="C0")
        ax.axhline(study["ceiling"]["kendall_tau"], color="k", ls="--",
                   label="ceiling (truth seed vs seed)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(f"Kendall tau vs the {study['truth_seeds']}-seed truth "
                      f"({study['architectures']} widths)")
        ax.tick_params(axis="x", labelsize=8)
        ax.legend(fontsize=8)
        ax.set_title("the study", fontsize=9)
    if result.get("verdict"):
        fig.suptitle(result["verdict"], fontsize=9, wrap=True)
    fig.tight_layout()
    fig.savefig(file, dpi=120)
    plt.close(fig)


def supernet_stages(args, result: dict) -> None:
    """compute, supernets, report (or all three), on the full truth."""
    if "full_truth" not in result:
        sys.exit("decisive_study: the full truth is not built yet (run --stage truth first)")
    args.truth = result["full_truth"]["truth"]
    truth = read_json(args.truth)
    keys_built = list(truth)
    if args.stage in ("compute", "all"):
        from slimnas.bench.compare import compare_scorers

        base = args.compute or BASE_COMPUTE
        levels = {}
        done = run_units(args, [("BCNetV2", 0, c) for c in (base, 2 * base)], keys_built)
        for (_, _, c), sc in sorted(done.items()):
            res = compare_scorers({"BCNetV2": [sc]}, {k: truth[k]["acc"] for k in keys_built},
                                  {k: truth[k]["flops"] for k in keys_built}, n_boot=args.boot)
            levels[f"{c:.3g}"] = res["scorers"]["BCNetV2"]
        result["compute_levels"] = levels
        result["compute_choice"] = choose_compute(levels)
        atomic_write_json(args.out, result)
        log(f"compute levels: { {c: r['kendall_tau'] for c, r in levels.items()} } -> "
            f"{result['compute_choice']['compute']:.3g} MACs")
    if args.stage == "compute":
        return
    compute = args.compute if args.stage != "all" and args.compute else \
        result.get("compute_choice", {}).get("compute")
    if compute is None:
        sys.exit("decisive_study: no training compute chosen yet (run --stage compute, or "
                 "give --compute)")
    if args.stage in ("supernets", "all"):
        units = [(label, seed, compute) for seed in range(args.seeds) for label in RULES]
        run_units(args, units, keys_built)
    if args.stage in ("report", "all"):
        result["study"] = report(args, compute, args.seeds)
        result["study"]["compute"] = compute
        result["study"]["note"] = ("every built architecture is a window width, so tau over "
                                   "all built architectures is the window's tau")
        result["verdict"] = verdict(result["study"])
        atomic_write_json(args.out, result)
        plot(result, Path(args.out).with_suffix(".png"))
        log(f"verdict: {result['verdict']}")
        print(table(result["study"]))


def apply_smoke() -> None:
    """--smoke: vs_alternatives' tiny data sizes, a 1-epoch truth, fewer widths."""
    global PILOT_HALF, FULL_HALF, RE_PILOT_EPOCHS
    va.SUBSET, va.HELD_OUT, va.EPOCHS = 3000, 500, 1
    BUILD.update(epochs=1, train_size=3000, held_out=500)
    PILOT_HALF, FULL_HALF, RE_PILOT_EPOCHS = 3, 5, 2


def main() -> None:
    from slimnas.bench.build import build_benchmark

    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="pilot",
                    choices=("keys", "pilot", "truth", "compute", "supernets", "report",
                             "all", "plot", "table"))
    ap.add_argument("--compute", type=float, default=None,
                    help="training MACs per supernet (--stage compute tries it and 2x, "
                         f"default {BASE_COMPUTE:.3g}; later stages: the level it chose)")
    ap.add_argument("--seeds", type=int, default=2, help="supernet seeds per rule")
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--dir", default="benchmarks/results/decisive_study_runs")
    ap.add_argument("--va-dir", default="benchmarks/results/vs_alternatives_runs")
    ap.add_argument("--root", default=None)
    ap.add_argument("--truth", default="benchmarks/results/decisive_truth.json")
    ap.add_argument("--out", default="benchmarks/results/decisive_study.json")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--smoke", action="store_true", help="vs_alternatives' tiny data sizes")
    args = ap.parse_args()
    if args.smoke:
        apply_smoke()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    keys = choose_keys(work / "pilot_keys.json")
    known = known_runs(Path(args.va_dir))
    all_keys = list(dict.fromkeys([*keys, *known]))
    log(f"pilot: {len(keys)} chosen widths + {len(all_keys) - len(keys)} from "
        f"vs_alternatives; {sum(len(v) for v in known.values())} runs known")
    if args.stage == "keys":
        return
    result = read_json(args.out) if Path(args.out).is_file() else {}
    if args.stage == "plot":  # redraw the PNG from the JSON, training nothing
        plot(result, Path(args.out).with_suffix(".png"))
        return
    if args.stage == "table":  # the README's table from the JSON, computing nothing
        if "study" not in result:
            sys.exit("decisive_study: no study figures yet (run --stage report first)")
        print(result.get("verdict", ""))
        print(table(result["study"]))
        return
    if args.stage in ("truth", "all") and "full_truth" not in result:
        full_truth(args, result, keys, known, work)
    if args.stage == "truth":
        return
    if args.stage in ("compute", "supernets", "report", "all"):
        supernet_stages(args, result)
        return
    keys_file = work / "pilot_keys.txt"
    keys_file.write_text("\n".join(all_keys) + "\n")
    res = build_benchmark(archs=None, seeds=2, out=args.truth, root=args.root,
                          keys_file=keys_file, known_runs=known, jobs=args.jobs,
                          progress=False, **BUILD)
    truth = read_json(args.truth)
    if res["runs_trained"] == 0 and "build" in result.get("pilot", {}):
        res = result["pilot"]["build"]  # a resume past the pilot: keep the record that trained
    result.update({
        "benchmark": "decisive_study", "machine": va.machine() | {"python": platform.python_version()},
        "pilot": {"keys": all_keys, "chosen": keys, "from_vs_alternatives": list(known),
                  "build": res, "truth": args.truth, "recipe": BUILD},
        "gate": gate(truth, all_keys)})
    atomic_write_json(args.out, result)
    plot(result, Path(args.out).with_suffix(".png"))  # the pilot's gate, before any re-pilot
    log(f"gate: {result['gate']}")
    if result["gate"]["passed"] is False:  # the one re-pilot the design allows
        longer = re_pilot_path(args)
        log(f"gate failed: re-pilot of the same widths at {RE_PILOT_EPOCHS} epochs -> {longer}")
        res = build_benchmark(archs=None, seeds=2, out=longer, root=args.root,
                              keys_file=keys_file, known_runs=None, jobs=args.jobs,
                              progress=False, **re_pilot_recipe())
        if res["runs_trained"] == 0 and "build" in result.get("re_pilot", {}):
            res = result["re_pilot"]["build"]  # a rerun past the re-pilot: keep its record
        result["re_pilot"] = {"build": res, "truth": longer,
                              "recipe": re_pilot_recipe()}
        result["gate_re_pilot"] = gate(read_json(longer), all_keys)
        log(f"re-pilot gate: {result['gate_re_pilot']}")
        if result["gate_re_pilot"]["passed"] is False:
            ceiling = max(result["gate"]["seed0_vs_seed1_kendall_tau"],
                          result["gate_re_pilot"]["seed0_vs_seed1_kendall_tau"])
            result["verdict"] = (
                "undecidable on this hardware: the ground truth's own seeds rank the window's "
                f"widths with Kendall tau {ceiling:.2f} at best (gate {GATE_TAU}), so no "
                "scorer's ranking can be told from another's")
        atomic_write_json(args.out, result)
    plot(result, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()
