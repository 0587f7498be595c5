"""`slimnas bnas search|train`: parse, call the library, print. Registered into
`slimnas.cli` by `register(sub)`; it shares only `slimnas.cli_common` with that module."""

from __future__ import annotations

import argparse
import json
import sys

from slimnas.cli_common import Parser, config_and_overrides, run_command


def cmd_search(args) -> int:
    from slimnas.bnas.config import load_bnas_config
    from slimnas.bnas.search import run_search

    cfg = load_bnas_config(*config_and_overrides(args))
    summary = run_search(cfg, resume=args.resume)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    acc = summary["held_out_top1"]
    print(f"{summary['variant']}: {summary['out']}/genotype.json ({summary['steps']} steps, "
          f"parameter-free share {summary['parameter_free_share']:.2f}"
          + (f", held-out top-1 {acc:.2f} %" if acc is not None else "") + ")", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from slimnas.bnas.config import load_bnas_config
    from slimnas.bnas.genotype import read_genotype
    from slimnas.bnas.train import train_genotype

    cfg = load_bnas_config(*config_and_overrides(args))
    genotype = read_genotype(args.genotype)
    summary = train_genotype(cfg, genotype, resume=args.resume)
    sys.stdout.write(json.dumps({k: v for k, v in summary.items() if k != "history"},
                                indent=2) + "\n")
    print(f"model: {summary['model']} ({summary['params']} params, test top-1 "
          f"{summary['test_top1']:.2f} %)", file=sys.stderr)
    return 0


def register(subparsers, parser_class=argparse.ArgumentParser) -> None:
    """Add `bnas search` and `bnas train` to the `slimnas` command's subparsers."""
    from slimnas.bnas.config import VARIANTS  # torch-free: the variant names for the help

    b = subparsers.add_parser("bnas", help="broad / differentiable cell search (BNAS-v2, DARTS)")
    bsub = b.add_subparsers(dest="bnas_command", required=True, parser_class=parser_class)

    s = bsub.add_parser("search", help=f"search cells: variant {', '.join(VARIANTS)}; writes "
                        "genotype.json, alphas.json, cell PNGs")
    s.add_argument("config", nargs="?", help="YAML config (default: BNAS-D on digits)")
    s.add_argument("overrides", nargs="*", help="key=value, e.g. variant=bnas-v2-pc "
                   "search.epochs=4")
    s.add_argument("--resume", action="store_true", help="continue the search in `out`")
    s.set_defaults(fn=cmd_search, resume_hint="add --resume to the same command to continue "
                   "from the last epoch's checkpoint")

    t = bsub.add_parser("train", help="train and export the evaluation network of a genotype")
    t.add_argument("--genotype", required=True,
                   help="genotype JSON (or a directory holding genotype.json)")
    t.add_argument("config", nargs="?", help="YAML config (its `train` section)")
    t.add_argument("overrides", nargs="*", help="key=value, e.g. train.epochs=5 train.cutout=4")
    t.add_argument("--resume", action="store_true", help="continue the training in train.out")
    t.set_defaults(fn=cmd_train, resume_hint="add --resume to the same command to continue "
                   "from the last epoch's checkpoint")


def main(argv: list[str] | None = None) -> int:
    """`slimnas bnas ...` alone: a `slimnas` parser holding only the bnas commands (the
    full command, `slimnas.cli.main`, registers them with `register`)."""
    parser = Parser(prog="slimnas", description="broad / differentiable cell search")
    register(parser.add_subparsers(dest="command", required=True, parser_class=Parser),
             parser_class=Parser)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
