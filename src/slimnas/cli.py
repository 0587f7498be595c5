"""The `slimnas` command: parse, call the library, print. No logic lives here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slimnas.bnas.cli import register as register_bnas
from slimnas.cli_common import LazyChoices, Parser, config_and_overrides, print_json, run_command
from slimnas.errors import SlimnasError


def cmd_train_supernet(args) -> int:
    from slimnas.config import load_config
    from slimnas.width.train import train_supernet

    config, overrides = config_and_overrides(args)
    # not `run`'s report directory: a later `slimnas run` there would find a stranger's files
    cfg = load_config(config, overrides, defaults={"out": "runs/supernet"})
    summary = train_supernet(cfg, resume=args.resume)
    last = summary["history"][-1] if summary["history"] else {}
    print(f"supernet: {summary['checkpoint']} ({summary['steps']} steps; last epoch "
          + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in last.items()) + ")", file=sys.stderr)
    return 0


def cmd_run(args) -> int:
    from slimnas.config import load_config
    from slimnas.pipeline import run

    config, overrides = config_and_overrides(args)
    cfg = load_config(config, overrides)
    res = run(cfg, progress=cfg["train"]["progress"])
    w, u = res["winner"], res["uniform"]
    print(f"winner  {w['key']}: {w['flops_macs'] / 1e6:.3f} MFLOPs (MACs), "
          f"test top-1 {w['test_top1_retrained']:.2f} % after retraining", file=sys.stderr)
    print(f"uniform {u['key']}: {u['flops_macs'] / 1e6:.3f} MFLOPs (MACs), "
          f"test top-1 {u['test_top1_retrained']:.2f} % after retraining", file=sys.stderr)
    for name, n in (("winner ", w), ("uniform", u)):
        if "latency_ms_measured" in n:
            print(f"{name} {n['key']}: latency {n['latency_ms_predicted']:.3f} ms predicted, "
                  f"{n['latency_ms_measured']:.3f} ms measured", file=sys.stderr)
    print(f"report: {cfg['out']}/result.json", file=sys.stderr)
    return 0


def _latency_space(args):
    """The config's space (as `slimnas run` builds it) and the config."""
    from slimnas.config import load_config
    from slimnas.data import load_split
    from slimnas.width.context import make_space

    config, overrides = config_and_overrides(args)
    cfg = load_config(config, overrides)
    return make_space(cfg, load_split(cfg)[0])[0], cfg


def cmd_latency_build(args) -> int:
    from slimnas.latency import build_table
    from slimnas.runs import resolve_device, torch_threads

    space, cfg = _latency_space(args)
    threads = args.threads if args.threads is not None else cfg["threads"]
    if threads < 1:
        raise SlimnasError("--threads must be >= 1 (a table is measured at a thread count)")
    device = args.device or str(resolve_device(cfg["device"]))
    with torch_threads(threads):
        table = build_table(space, args.out, args.batch, threads, device, args.min_run_time,
                            seed=cfg["seed"], log=lambda line: print(f"latency: {line}",
                                                                      file=sys.stderr),
                            max_entries=args.max_entries, passes=args.passes)
    print_json({"out": args.out, "terms": len(table["terms"]),
                "entries": len(table["entries"]), "constant_ms": table["constant_ms"],
                "batch": table["batch"], "threads": table["threads"],
                "machine": table["machine"]})
    return 0


def cmd_latency_check(args) -> int:
    from slimnas.io import atomic_write_json
    from slimnas.latency import check_predictions, check_table, load_table
    from slimnas.runs import torch_threads

    space, cfg = _latency_space(args)
    table = load_table(args.table)
    check_table(table, space, table["threads"], source=args.table)
    if args.n < 2:
        raise SlimnasError("--n must be >= 2 (a rank correlation needs two widths)")
    with torch_threads(table["threads"]):
        res = check_predictions(space, table, args.n, args.seed, table["machine"]["device"],
                                log=lambda line: print(f"latency: {line}", file=sys.stderr))
    if args.out:
        atomic_write_json(args.out, res)
    print_json({k: v for k, v in res.items() if k != "widths"})
    return 0


def cmd_export(args) -> int:
    from slimnas.io import NewDirectory, probe_writable
    from slimnas.width.checkpoint import export_width, load_supernet

    NewDirectory(args.out)  # refuses a non-empty --out before the supernet is loaded
    probe_writable(Path(args.out).parent, is_dir=True)
    loaded = load_supernet(args.checkpoint, model=args.model)
    widths = loaded.ctx.space.parse(args.widths)
    out = export_width(loaded, widths, args.out, args.path, onnx=not args.no_onnx)
    from slimnas.width.export import read_arch

    arch = read_arch(out)
    print_json({k: arch[k] for k in ("key", "path", "score", "flops_macs", "params")
                if k in arch} | {"out": str(out)})
    return 0


def cmd_score(args) -> int:
    from slimnas.width.checkpoint import MAX_ALL, load_supernet, read_width_keys, score_widths

    out = Path(args.out)
    if out.exists():
        raise SlimnasError(f"{out} exists; choose another --out")
    from slimnas.config import parse_key_values
    from slimnas.io import probe_writable

    probe_writable(out, is_dir=False)

    loaded = load_supernet(args.checkpoint, recal_batches=args.recal_batches,
                           rule_options=parse_key_values(args.rule_option, "--rule-option"),
                           model=args.model)
    space = loaded.ctx.space
    if args.all:
        if space.size() > MAX_ALL:
            raise SlimnasError(f"--all: the space has {space.size()} widths (> {MAX_ALL}); "
                               "pass --archs")
        widths = list(space.all_widths())
    else:
        widths = read_width_keys(args.archs, space)
    scores = score_widths(loaded, widths, out)
    print(f"scored {len(scores)} widths -> {out}", file=sys.stderr)
    return 0


def cmd_bench_verify(args) -> int:
    from slimnas.bench import verify

    res = verify(args.space, args.file)
    print(f"{res['n_exact']}/{res['n_total']} exact ({args.space}: {res['file']})")
    for m in res["mismatches"]:
        print(f"  mismatch {json.dumps(m)}")
    return 0 if res["n_exact"] == res["n_total"] else 1


def cmd_bench_query(args) -> int:
    from slimnas.bench import query

    print_json(query(args.space, args.arch, args.file))
    return 0


def cmd_bench_rank(args) -> int:
    from slimnas.bench.rank import rank_correlation, read_score_table

    table = read_score_table(args.scores, args.space, args.file)  # a built file's keys
    res = rank_correlation(args.space, table, args.file)
    if args.json:
        print_json(res)
    else:
        for part in ("all", "no_ones"):
            ours, base = res[part], res["flops_alone"][part]
            print(f"{part:8s} n={ours['n']:5d}  kendall {ours['kendall_tau']}  spearman "
                  f"{ours['spearman']}  (FLOPs alone: {base['kendall_tau']}, {base['spearman']})")
    return 0


def cmd_bench_build(args) -> int:
    from slimnas.bench.build import build_benchmark
    from slimnas.config import parse_key_values

    res = build_benchmark(
        args.space, parse_key_values(args.option), args.archs, args.seeds, args.data, args.out,
        root=args.root, bins=args.bins, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, train_size=args.train_size,
        test_size=args.test_size, pad=args.pad, flip=args.flip, seed=args.seed,
        device=args.device, progress=not args.no_progress, jobs=args.jobs,
        held_out=args.held_out, keys_file=args.keys, channels_last=args.channels_last)
    print_json(res)
    return 0


def cmd_bench_search(args) -> int:
    from slimnas.bench.search import bench_search

    res = bench_search(args.space, args.budget, args.searcher, args.queries, args.seeds,
                       args.scores, args.init, path=args.file)
    if args.json:
        print_json(res)
    else:
        for r in res["runs"]:
            print(f"seed {r['seed']:3d}  {r['arch']}  rank {r['rank']:4d}  mean {r['mean']:.3f}"
                  f"  {r['flops_macs'] / 1e6:.1f} MFLOPs (MACs)  queries {r['queries_used']}")
        print(f"median rank {res['median_rank']} (budget {res['budget_flops_macs']:,} MACs, "
              f"{res['architectures']:,} architectures searched)")
    return 0


def cmd_fairness(args) -> int:
    from slimnas.width.fairness import bin_usage

    res = bin_usage(args.rule, args.bins, args.min_bins, args.steps, args.groups,
                    args.complementary, args.seed, args.sandwich, args.sandwich_random,
                    args.full_net_every)
    if args.json:
        print_json(res)
    else:
        for g, grp in enumerate(res["groups"]):
            print(f"group {g}: counts {grp['counts']} max/min {grp['max_min_ratio']}")
        print(f"max/min over groups: {res['max_min_ratio']}")
    return 0


def cmd_spaces(args) -> int:
    from slimnas.width.spaces import family_names, family_options

    print_json({name: family_options(name) for name in family_names()})
    return 0


def _dataset_names() -> list[str]:
    from slimnas.data.loader import DATASETS  # imports torch: only to check or list names

    return DATASETS.names()


def _dataset_key(name: str) -> str:
    from slimnas.data.loader import dataset_key

    return dataset_key(name)


def build_parser() -> argparse.ArgumentParser:
    """The `slimnas` parser; every choice of a name comes from its registry."""
    p = Parser(prog="slimnas", description="One-shot width search: fair supernets, "
               "Channel-Bench-Macro, export. FLOPs are multiply-accumulates (MACs).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    _add_width_commands(sub)
    bsub = _add_bench_commands(sub)
    _add_bench_build(bsub)
    _add_other_commands(sub)
    register_bnas(sub, parser_class=Parser)
    return p


_MODEL_HELP = ("the user's model the supernet was trained on (its model= key): zoo:NAME or "
               "package.module:factory")


# the registries whose names are choices are torch-free imports; datasets load lazily
def _add_width_commands(sub) -> None:
    t = sub.add_parser("train-supernet", help="train a width supernet from a YAML config")
    t.add_argument("config", nargs="?", help="YAML config (default: the digits demo)")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.epochs=5")
    t.add_argument("--resume", action="store_true", help="continue the run in `out`")
    t.set_defaults(fn=cmd_train_supernet, resume_hint="add --resume to the same command to "
                   "continue from the last checkpoint")

    r = sub.add_parser("run", help="the main job: supernet -> search -> export -> retrain")
    r.add_argument("config", nargs="?", help="YAML config (default: digits)")
    r.add_argument("overrides", nargs="*", help="key=value overrides, e.g. search.budget=0.3")
    r.set_defaults(fn=cmd_run, resume_hint="rerun the same command to resume: finished stages "
                   "are kept, the supernet continues from its last checkpoint")

    e = sub.add_parser("export", help="export one width of a trained supernet")
    e.add_argument("checkpoint")
    e.add_argument("--widths", required=True, help='width key in bins, e.g. "4444342"')
    e.add_argument("--path", default="best", help="best (default), left or right")
    e.add_argument("--out", required=True, help="new directory for arch.json, model.pt/.onnx")
    e.add_argument("--no-onnx", action="store_true")
    e.add_argument("--model", default=None, help=_MODEL_HELP)
    e.set_defaults(fn=cmd_export)

    c = sub.add_parser("score", help="score width keys with a trained supernet")
    c.add_argument("--checkpoint", required=True)
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--archs", help="JSON list of width keys, or one key a line")
    which.add_argument("--all", action="store_true", help="every width of a small space")
    c.add_argument("--out", required=True, help="scores JSON {key: score} (resumes a partial)")
    c.add_argument("--recal-batches", type=int, default=None,
                   help="BN recalibration batches (default: the training config's)")
    c.add_argument("--model", default=None, help=_MODEL_HELP)
    c.add_argument("--rule-option", action="append", metavar="KEY=VALUE",
                   help="a scoring option of the rule, e.g. candidates=16 for cafenet")
    c.set_defaults(fn=cmd_score, resume_hint="rerun the same command to continue from "
                   "<out>.partial")


def _add_bench_commands(sub):
    from slimnas.bench.cbm import BENCH_SPACES
    from slimnas.search.searchers import searcher_names

    b = sub.add_parser("bench", help="Channel-Bench-Macro")
    bsub = b.add_subparsers(dest="bench_command", required=True, parser_class=Parser)
    for name, fn, helptext in (("verify", cmd_bench_verify, "recompute flops/params"),
                               ("query", cmd_bench_query, "look up one architecture"),
                               ("rank", cmd_bench_rank, "rank correlation of a score file"),
                               ("search", cmd_bench_search, "search with true ranks")):
        q = bsub.add_parser(name, help=helptext)
        q.add_argument("--space", required=True, choices=BENCH_SPACES.names())
        q.add_argument("--file", default=None, help="results JSON (default: see README); "
                       "a `bench build` file is read with the space of its <file>.meta.json")
        if name == "query":
            q.add_argument("--arch", required=True, help="7 digits in 1..4, e.g. 4444342")
        if name == "rank":
            q.add_argument("--scores", required=True, help="JSON: architecture key -> score")
        if name == "search":
            q.add_argument("--budget", required=True,
                           help="fraction of the full width's FLOPs (MACs), or 150M")
            q.add_argument("--searcher", default="evolution", choices=searcher_names())
            q.add_argument("--queries", type=int, default=100, help="distinct archs per run")
            q.add_argument("--seeds", type=int, default=20)
            q.add_argument("--scores", default=None, help="score table instead of true means")
            q.add_argument("--init", default="random", help="random (prior needs a supernet)")
        if name in ("rank", "search"):
            q.add_argument("--json", action="store_true", help="print only the JSON result")
        q.set_defaults(fn=fn)
    return bsub


def _add_bench_build(bsub) -> None:
    from slimnas.width.spaces import family_names

    bb = bsub.add_parser("build", help="train N architectures stand-alone: your own benchmark")
    bb.add_argument("--space", required=True, choices=family_names(),
                    help="a built-in space (`slimnas spaces` lists their options)")
    bb.add_argument("--option", action="append", metavar="KEY=VALUE",
                    help="a space option, e.g. width_mult=0.25 (repeatable)")
    bb.add_argument("--archs", type=int, default=None,
                    help="architectures (FLOPs-stratified picks)")
    bb.add_argument("--keys", default=None, metavar="FILE",
                    help="build these width keys (JSON list or one a line), with or "
                         "without --archs; rerun with more keys, archs or seeds to grow a build")
    bb.add_argument("--seeds", type=int, default=2, help="trainings per architecture")
    bb.add_argument("--data", required=True, metavar="DATA",
                    choices=LazyChoices(_dataset_names, _dataset_key), help="%(choices)s")
    bb.add_argument("--root", default=None, help="dataset directory")
    bb.add_argument("--out", required=True, help="benchmark JSON (resumes <out>.partial)")
    bb.add_argument("--bins", type=int, default=4, help="bins per group (keys are bin counts)")
    bb.add_argument("--epochs", type=int, default=3)
    bb.add_argument("--batch-size", type=int, default=64)
    bb.add_argument("--lr", type=float, default=0.05)
    bb.add_argument("--weight-decay", type=float, default=5e-4)
    bb.add_argument("--train-size", type=int, default=None, help="stratified training subset")
    bb.add_argument("--test-size", type=int, default=None, help="stratified test subset")
    bb.add_argument("--held-out", type=int, default=None,
                    help="leave out the N training images a supernet config with "
                         "data.held_out=N, data.held_out_seed=--seed scores on")
    bb.add_argument("--pad", type=int, default=2, help="random-crop padding")
    bb.add_argument("--flip", action="store_true", help="random horizontal flips")
    bb.add_argument("--channels-last", action="store_true",
                    help="train in the channels-last memory format (faster on CPU; equal "
                         "to the default to float rounding; part of the recipe)")
    bb.add_argument("--seed", type=int, default=0)
    bb.add_argument("--device", default="auto")
    bb.add_argument("--jobs", type=int, default=1,
                    help="runs trained at once, one process and one thread each")
    bb.add_argument("--no-progress", action="store_true")
    bb.set_defaults(fn=cmd_bench_build, resume_hint="rerun the same command to continue: "
                    "finished runs are kept in <out>.partial")


def _add_latency_commands(sub) -> None:
    lat = sub.add_parser("latency", help="per-layer latency tables: search under a latency "
                         "budget measured on this machine")
    lsub = lat.add_subparsers(dest="latency_command", required=True, parser_class=Parser)
    b = lsub.add_parser("build", help="measure a space's per-layer latency table (resumable)")
    c = lsub.add_parser("check", help="the table's predictions against whole networks")
    for q in (b, c):
        q.add_argument("config", nargs="?", help="YAML config naming the space (default: the "
                       "digits demo's)")
        q.add_argument("overrides", nargs="*", help="key=value overrides, e.g. "
                       "space.width_mult=1.0")
    b.add_argument("--out", required=True, help="table JSON (an unfinished one is resumed)")
    b.add_argument("--batch", type=int, default=1, help="images per forward (default 1)")
    b.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the config's threads)")
    b.add_argument("--device", default=None, help="cpu or cuda[:N] (default: the config's)")
    b.add_argument("--min-run-time", type=float, default=0.1,
                   help="seconds of timing per entry (torch.utils.benchmark blocks)")
    b.add_argument("--passes", type=int, default=3, help="rounds over every entry; each "
                   "keeps its fastest (default 3)")
    b.add_argument("--max-entries", type=int, default=5000,
                   help="refuse a table of more distinct layer shapes (default 5000)")
    b.set_defaults(fn=cmd_latency_build, resume_hint="rerun the same command to measure "
                   "only what is missing")
    c.add_argument("--table", required=True, help="a finished `latency build` table")
    c.add_argument("--n", type=int, default=50, help="random widths to measure (default 50)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default=None, help="also write the full report (JSON) here")
    c.set_defaults(fn=cmd_latency_check)


def _add_other_commands(sub) -> None:
    from slimnas.width.sharing import rule_names

    _add_latency_commands(sub)

    f = sub.add_parser("fairness", help="count bin usage of a rule's real sampler")
    f.add_argument("--rule", required=True, choices=rule_names(),
                   help="a rule whose sampler does not need the training loss")
    f.add_argument("--bins", type=int, required=True, help="K0, the bins of interest")
    f.add_argument("--min-bins", type=int, default=1, help="m, the minimum width in bins")
    f.add_argument("--steps", type=int, required=True)
    f.add_argument("--groups", type=int, default=1)
    f.add_argument("--complementary", action="store_true")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--sandwich", action="store_true",
                   help="max, min and --sandwich-random random widths per step (AutoSlim)")
    f.add_argument("--sandwich-random", type=int, default=2)
    f.add_argument("--full-net-every", type=int, default=0,
                   help="every Nth step trains the full supernet (0: never)")
    f.add_argument("--json", action="store_true", help="print only the JSON result")
    f.set_defaults(fn=cmd_fairness)

    s = sub.add_parser("spaces", help="list the built-in spaces and their options")
    s.set_defaults(fn=cmd_spaces)


def main(argv: list[str] | None = None) -> int:
    """The `slimnas` command: parse `argv`, run the command, return its exit code."""
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
