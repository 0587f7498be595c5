"""What the `slimnas` command and its `bnas` commands share: the parser class, JSON
printing, config arguments, registry-backed choices and running a parsed command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from slimnas.errors import SlimnasError


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (and exit 2)."""

    def error(self, message: str) -> None:  # one clear line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


class LazyChoices:
    """Argparse choices read from a registry on first use, for registries whose import is
    slow (datasets pull in torch); `key` maps a value to its registered spelling."""

    def __init__(self, names: Callable[[], Iterable[str]],
                 key: Callable[[str], str] = str):
        self._names = names
        self._key = key

    def __contains__(self, value: object) -> bool:
        return self._key(value) in set(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def print_json(obj) -> None:
    """`obj` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def config_and_overrides(args) -> tuple[str | None, list[str]]:
    """(config path, overrides) of a command taking `config` and `overrides`; a first
    argument holding "=" that is no file is an override."""
    config, overrides = args.config, list(args.overrides)
    if config and "=" in config and not Path(config).exists():  # no config, only overrides
        config, overrides = None, [config, *overrides]
    return config, overrides


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv` and run the chosen command: SlimnasError is one line and exit 2, an
    interrupt says how to resume and exits 130."""
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except SlimnasError as e:
        sys.stderr.write(f"slimnas: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", None)
        sys.stderr.write("slimnas: interrupted" + (f"; {hint}" if hint else "") + "\n")
        return 130
