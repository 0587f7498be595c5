"""Ranking study: does a fairer supernet rank widths better? (issue 4)

1. Ground truth: `slimnas bench build` of cbm-mobilenet 0.25x on Fashion-MNIST 28x28x1,
   --archs architectures (FLOPs-stratified) x 2 seeds each, trained stand-alone.
2. Supernets: UA, BCNet, BCNetV2 (complementary pairs), CafeNet, the same epochs, data
   subset and recipe, for every supernet seed.
3. Every architecture of the ground truth scored in every supernet (`slimnas score`'s
   `score_widths`: BN recalibration + held-out top-1; left/right averaged for BCNet rules;
   CafeNet's best candidate).
4. Kendall tau / Spearman of each rule against the true means, the FLOPs-alone baseline,
   the spread over supernet seeds: JSON + a PNG bar chart.

Every stage resumes: the builder keeps finished runs, a supernet resumes from its
checkpoint, scoring from its .partial file. Scores are kept under --scores-dir (committed
with the results), so a supernet whose scores are all there is never trained again. Rerun
the same command after a kill. On a 2-core machine, `--stage supernets` in a second process trains the supernets while the
default process builds the ground truth (then finds them done).

    python benchmarks/ranking_study.py [--dir runs/ranking-study] [--archs 100] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

RULES = {  # label: (rule, complementary, rule_options, train options)
    "UA": ("ua", False, {}, {}),
    "BCNet": ("bcnet", False, {}, {}),
    "BCNetV2": ("bcnetv2", True, {}, {}),
    "CafeNet": ("cafenet", False, {"offset": 1, "candidates": 4}, {}),
    # AutoSlim (configs/autoslim.yaml): UA's channels, the sandwich rule and in-place
    # distillation; not in the default --rules, whose published figures predate it
    "AutoSlim": ("ua", False, {}, {"sandwich": True, "inplace_distill": True}),
}
DEFAULT_RULES = ("UA", "BCNet", "BCNetV2", "CafeNet")
# scoring-only variants: the same supernets, scored with other rule options (CafeNet's best
# candidate out of a bigger sample than the 4 it was trained with)
# ("scored_as": a diagnostic, not a rule option: the supernet's weights scored through
# another rule's paths, e.g. CafeNet's weights through UA's fixed left-aligned channels;
# "recal_batches": BN recalibration on 3x the images)
# (cheapest first: the candidate counts cost about their number of scorings per width)
RESCORE = {"UA": [{"recal_batches": 30}],
           "CafeNet": [{"scored_as": "ua"}, {"recal_batches": 30}, {"candidates": 16},
                       {"candidates": 32}]}
SPACE = {"name": "cbm-mobilenet", "width_mult": 0.25, "input_size": 28, "in_channels": 1}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ground_truth(args) -> Path:
    from slimnas.bench.build import build_benchmark

    truth = Path(args.truth)
    if truth.is_file() and not truth.with_name(truth.name + ".partial").exists():
        return truth
    log(f"ground truth -> {truth}")
    res = build_benchmark(
        SPACE["name"], {k: v for k, v in SPACE.items() if k != "name"}, args.archs, 2,
        "fashion-mnist", truth, root=args.root, epochs=args.truth_epochs,
        train_size=args.train_size, test_size=args.test_size, seed=0,
        progress=args.progress, jobs=args.jobs)
    log(f"ground truth done: {json.dumps(res)}")
    return truth


def supernet_config(args, label: str, seed: int) -> dict:
    from slimnas.config import load_config

    rule, complementary, options, recipe = RULES[label]
    cfg = load_config(None, [])
    cfg.update({"seed": seed, "out": str(Path(args.dir) / f"{label}-seed{seed}"), "rule": rule,
                "complementary": complementary, "rule_options": dict(options),
                "space": dict(SPACE)})
    cfg["data"].update({"name": "fashion-mnist", "root": args.root, "held_out": args.held_out,
                        "subset": args.train_size, "pad": 2})
    cfg["train"].update({"epochs": args.epochs, "eval_every": 0, "progress": args.progress,
                         "tensorboard": False, "batch_size": 64, "lr": 0.1, **recipe})
    cfg["score"].update({"recal_batches": args.recal_batches, "batch_size": 64})
    return cfg


def supernet(args, label: str, seed: int) -> Path:
    from slimnas.io import load_checkpoint
    from slimnas.runs import CHECKPOINT
    from slimnas.width.train import train_supernet

    cfg = supernet_config(args, label, seed)
    ckpt = Path(cfg["out"]) / CHECKPOINT
    if ckpt.is_file() and load_checkpoint(ckpt)["epoch"] >= args.epochs:
        return ckpt
    kept = score_dir(args, label, seed) / CHECKPOINT  # a finished supernet kept with the
    if not ckpt.is_file() and kept.is_file():  # results while scorings of it are unfinished
        return kept
    log(f"supernet {label} seed {seed} ({'resume' if ckpt.is_file() else 'start'})")
    t0 = time.perf_counter()
    train_supernet(cfg, resume=ckpt.is_file())
    log(f"supernet {label} seed {seed} done in {time.perf_counter() - t0:.0f} s")
    # the training curve goes with the scores (kept with the results)
    shutil.copyfile(ckpt.parent / "log.csv", score_dir(args, label, seed) / "log.csv")
    return ckpt


def variants(args, label: str) -> list[dict]:
    """The scorings of one rule's supernets: as trained, then the RESCORE variants."""
    return [{}] if args.no_rescore else [{}, *RESCORE.get(label, [])]


def rescore_label(label: str, options: dict) -> str:
    return f"{label} ({', '.join(f'{k} {v}' for k, v in options.items())})"


def score_dir(args, label: str, seed: int) -> Path:
    """Where a supernet's scores live: under --scores-dir, which is committed with the
    results (unlike the checkpoints under --dir), so finished scorings survive the loss of
    the run directory. `config.json` there pins the supernet recipe the scores came from."""
    from slimnas.io import atomic_write_json, read_json

    out = Path(args.scores_dir) / Path(args.dir).name / f"{label}-seed{seed}"
    recipe = {k: v for k, v in supernet_config(args, label, seed).items() if k != "out"}
    recipe["train"] = {k: v for k, v in recipe["train"].items() if k != "progress"}
    cfg = out / "config.json"
    if cfg.is_file():
        if read_json(cfg) != json.loads(json.dumps(recipe)):
            sys.exit(f"{cfg} holds scores of a supernet trained with other settings; "
                     "use another --dir or --scores-dir")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cfg, recipe)
    return out


def scores_file(args, label: str, seed: int, options: dict | None) -> Path:
    suffix = "".join(f"-{k}{v}" for k, v in (options or {}).items())
    return score_dir(args, label, seed) / f"scores{suffix}.json"


def scored(args, label: str, seed: int, keys: list[str], options: dict | None) -> bool:
    from slimnas.io import read_json

    out = scores_file(args, label, seed, options)
    return out.is_file() and set(keys) <= set(read_json(out))


def scores(args, label: str, seed: int, keys: list[str],
           options: dict | None = None) -> dict[str, float]:
    """Every key's score in this supernet (resumable), with the rule's options overridden
    by `options` at scoring time (the trained weights are the same). The supernet is
    trained (or resumed) only when some key is not scored yet."""
    from slimnas.io import atomic_write_json, read_json
    from slimnas.width.checkpoint import load_supernet, score_widths

    out = scores_file(args, label, seed, options)
    if out.is_file():
        have = read_json(out)
        if set(keys) <= set(have):
            return {k: have[k] for k in keys}
        # the ground truth grew: keep the scores made, score only the new keys
        atomic_write_json(out.with_name(out.name + ".partial"), have)
    ckpt = supernet(args, label, seed)
    log(f"scoring {len(keys)} widths in {ckpt.parent.name}"
        f"{' ' + rescore_label(label, options) if options else ''}")
    options = dict(options or {})
    scored_as = options.pop("scored_as", None)
    loaded = load_supernet(ckpt, recal_batches=options.pop("recal_batches", None),
                           rule_options=options)
    if scored_as:
        from slimnas.width.evaluate import WidthScorer
        from slimnas.width.sharing import get_rule

        old, rule = loaded.scorer, get_rule(scored_as)
        loaded.scorer = WidthScorer(loaded.supernet, loaded.ctx.space, rule, loaded.ctx.recal_x,
                                    old.held_x, old.held_y, len(old.recal), old.batch_size,
                                    recal_y=loaded.ctx.recal_y)
    widths = [loaded.ctx.space.parse(k) for k in keys]
    return score_widths(loaded, widths, out, progress=args.progress, save_every=5)


def beyond_flops(values: list[float], flops: list[float]) -> list[float]:
    """What FLOPs do not explain: the residuals of a least-squares line on log FLOPs."""
    import numpy as np

    x, y = np.log(np.asarray(flops, dtype=float)), np.asarray(values, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    return list(y - (slope * x + intercept))


def plot(result: dict, file: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(result["rules"]) + ["FLOPs alone"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric in zip(axes, ("kendall_tau", "spearman"), strict=True):
        means, lows, highs = [], [], []
        for r in result["rules"].values():
            vals = [v for v in r["per_seed"][metric] if v is not None]
            m = statistics.fmean(vals) if vals else float("nan")
            means.append(m)
            lows.append(m - min(vals) if vals else 0.0)
            highs.append(max(vals) - m if vals else 0.0)
        means.append(result["flops_alone"][metric] or float("nan"))
        lows.append(0.0)
        highs.append(0.0)
        ax.bar(labels, means, yerr=[lows, highs], capsize=4,
               color=[f"C{i % 10}" for i in range(11) if i != 7][:len(labels) - 1]
               + ["grey"])  # C7 is matplotlib's grey: kept for FLOPs alone
        ceiling = result.get("truth_noise", {}).get(f"seed0_vs_seed1_{metric}")
        if ceiling is not None:
            ax.axhline(ceiling, ls="--", color="k", lw=1,
                       label="ground truth: seed 0 vs seed 1")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"{metric} vs ground truth (n={result['n']}"
                     f"{', interim' if result.get('interim') else ''})")
        ax.set_ylim(min([0.0] + [m - lo - 0.05 for m, lo in zip(means, lows, strict=True)
                         if m == m]), 1.0)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    fig.suptitle("cbm-mobilenet 0.25x on Fashion-MNIST: supernet ranking vs stand-alone training"
                 "\n(bars: mean over supernet seeds, whiskers: min..max)", fontsize=9)
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="runs/ranking-study")
    ap.add_argument("--scores-dir", default="benchmarks/results/ranking_study_scores",
                    help="scores of every supernet, kept under <this>/<name of --dir>/")
    ap.add_argument("--truth", default="benchmarks/results/fmnist_cbm_mobilenet_truth.json")
    ap.add_argument("--out", default="benchmarks/results/ranking_study.json")
    ap.add_argument("--root", default=None, help="Fashion-MNIST directory (Debian's default)")
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--train-size", type=int, default=10000)
    ap.add_argument("--test-size", type=int, default=5000)
    ap.add_argument("--truth-epochs", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10, help="supernet epochs (every rule)")
    ap.add_argument("--held-out", type=int, default=1000, help="scoring images")
    ap.add_argument("--recal-batches", type=int, default=10)
    ap.add_argument("--seeds", default="0,1", help="supernet seeds")
    ap.add_argument("--rules", default=",".join(DEFAULT_RULES),
                    help=f"labels among {', '.join(RULES)}")
    ap.add_argument("--jobs", type=int, default=1, help="ground-truth runs trained at once")
    ap.add_argument("--no-rescore", action="store_true",
                    help="skip the scoring-only variants (RESCORE)")
    ap.add_argument("--stage", choices=["truth", "supernets", "report", "all"], default="all",
                    help="truth, or supernets (trained, then scored on every ground-truth "
                    "key) alone: two processes can run them side by side; report: the "
                    "correlations over the architectures finished so far")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    truth = Path(args.truth)
    if args.stage in ("truth", "all"):
        ground_truth(args)
        if args.stage == "truth":
            return
    seeds = [int(s) for s in args.seeds.split(",")]
    labels = [r for r in args.rules.split(",") if r]
    if args.stage == "supernets":  # score every planned key, finished or not
        from slimnas.io import read_json

        partial = truth.with_name(truth.name + ".partial")
        planned = (read_json(partial)["keys"] if partial.is_file()
                   else list(read_json(truth)) if truth.is_file() else None)
        if planned:
            # every supernet's own scoring first, then the scoring-only variants in the
            # order of RESCORE (cheapest first), each for every seed
            todo = sorted(((i, label, options) for label in labels
                           for i, options in enumerate(variants(args, label))),
                          key=lambda t: t[0])
            for _, label, options in todo:
                for seed in seeds:
                    scores(args, label, seed, sorted(planned), options)
        return
    if not truth.is_file():
        sys.exit(f"no ground truth yet: {truth} (run --stage truth first)")
    interim = truth.with_name(truth.name + ".partial").is_file()

    from slimnas.bench.rank import rank_correlation
    from slimnas.io import atomic_write_json, read_json

    keys = sorted(read_json(truth))
    if len(keys) < 3:
        sys.exit(f"{truth} has {len(keys)} finished architectures; a ranking needs 3")
    from scipy.stats import kendalltau, spearmanr

    table = read_json(truth)
    runs = [[table[k]["acc"][s] for k in keys] for s in range(2)]
    flops = [table[k]["flops"] for k in keys]
    truth_beyond = beyond_flops([table[k]["mean"] for k in keys], flops)
    noise = {  # how well one ground-truth seed ranks the other: a ceiling for any scorer
        "seed0_vs_seed1_kendall_tau": float(kendalltau(*runs)[0]),
        "seed0_vs_seed1_spearman": float(spearmanr(*runs)[0]),
        "mean_std": statistics.fmean(table[k]["std"] for k in keys),
        # the same, on what log FLOPs do not explain: the ceiling for "beyond FLOPs" below
        "seed0_vs_seed1_kendall_tau_beyond_flops": float(kendalltau(
            *(beyond_flops(r, flops) for r in runs))[0]),
        "mean_range": [min(table[k]["mean"] for k in keys),
                       max(table[k]["mean"] for k in keys)],
    }
    result = {"benchmark": "ranking_study", "truth": str(truth), "n": len(keys),
              "interim": interim, "truth_noise": noise,
              "settings": {k: v for k, v in vars(args).items() if k != "progress"},
              "space": SPACE, "rules": {}}
    for label in labels:
        for options in variants(args, label):
            name = rescore_label(label, options) if options else label
            if options and not all(scored(args, label, seed, keys, options) for seed in seeds):
                log(f"{name}: not scored on every key yet (--stage supernets scores it)")
                continue
            per_seed = {"kendall_tau": [], "spearman": [], "kendall_tau_no_ones": [],
                        "kendall_tau_beyond_flops": [], "kendall_tau_with_flops": [],
                        "mean_score": []}
            for seed in seeds:
                sc = scores(args, label, seed, keys, options)
                res = rank_correlation("mobilenet", sc, truth)
                per_seed["kendall_tau"].append(res["all"]["kendall_tau"])
                per_seed["spearman"].append(res["all"]["spearman"])
                per_seed["kendall_tau_no_ones"].append(res["no_ones"]["kendall_tau"])
                per_seed["mean_score"].append(statistics.fmean(sc.values()))
                # does the supernet know more than FLOPs? rank what FLOPs leave unexplained
                ordered = [sc[k] for k in keys]
                per_seed["kendall_tau_with_flops"].append(float(kendalltau(
                    ordered, flops)[0]))  # the truth's own: FLOPs alone
                per_seed["kendall_tau_beyond_flops"].append(float(kendalltau(
                    beyond_flops(ordered, flops), truth_beyond)[0]))
                result["flops_alone"] = res["flops_alone"]["all"]
            result["rules"][name] = {
                "rule": RULES[label][0], "complementary": RULES[label][1],
                "rule_options": RULES[label][2], "train_options": RULES[label][3],
                "scored_with": options, "seeds": seeds,
                "per_seed": per_seed,
                "mean": {m: statistics.fmean(v) for m, v in per_seed.items() if None not in v},
                "spread": {m: max(v) - min(v) for m, v in per_seed.items() if None not in v},
            }
            log(f"{name}: tau {per_seed['kendall_tau']}  spearman {per_seed['spearman']}")
    out = Path(args.out)
    atomic_write_json(out, result)
    plot(result, out.with_suffix(".png"))
    print(json.dumps({r: v["mean"] for r, v in result["rules"].items()}
                     | {"FLOPs alone": result["flops_alone"]}, indent=2))
    log(f"-> {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
