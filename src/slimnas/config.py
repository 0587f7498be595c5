"""YAML configs with a strict schema: defaults below, `key.sub=value` overrides.

Values are parsed with `yaml.safe_load` (never eval). Unknown keys, values of the wrong
type and values out of range (`check_config`, a table of key -> check) are errors with one
clear line. `space`, `rule_options` and `search.options` are checked by their owners
(get_space, get_rule, get_searcher).
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from slimnas.errors import SlimnasError

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "out": "runs/default",
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "threads": 1,  # torch CPU threads (0: torch's default); stored in the checkpoint and checked on resume
    "space": {"name": "cbm-mobilenet", "width_mult": 0.25},  # + any family option
    # a user's own model instead of `space`: "zoo:resnet18" or "package.module:factory"
    "model": None,
    "model_options": {
        "kwargs": {},  # passed to the factory beside num_classes and in_channels
        "ignore": [],  # module names whose output channels stay at full width
        "round_to": 1,  # every bin a multiple of this many channels
        "se": "follow",  # a squeeze-excitation's hidden width: follow (scaled) | search
        "init_weights": None,  # a state_dict file: the supernet inherits these weights
    },
    "rule": "bcnetv2",  # any of slimnas.width.sharing.rule_names()
    "rule_options": {},  # passed to the rule (cafenet: offset, candidates, select)
    "bins": 4,
    "min_bins": 1,
    "flops_bins": False,  # FLOPs-sensitive per-group bin counts (CafeNet, 1.8)
    "flops_bins_min": 2,  # ... but never fewer bins than this in a group
    "complementary": True,
    "data": {
        "name": "digits",
        "root": None,
        # a fraction in (0, 1) given as a float, or a whole count given as an integer
        "held_out": 0.2,  # fraction (or count) of the training set kept for scoring
        "held_out_seed": None,  # chosen with this seed (null: the run's seed)
        "test_fraction": 0.2,  # carved off as the final test set when there is no test split
        "subset": None,  # keep only this fraction (or count) of the training part, stratified
        "subset_seed": 0,  # ... chosen with this seed, not the run's (with a test split,
        # runs of every seed then train on the same images)
        "input_size": None,
        "in_channels": None,
        "pad": 1,  # random-crop padding
        "flip": False,
    },
    "train": {
        "epochs": 20,
        "batch_size": 64,
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "micro_batches": 1,  # split each (per-rank) batch, average gradients
        "records": 100,  # lowest-loss (loss, widths) records kept for the search prior
        "checkpoint_every_steps": 0,  # 0: at the end of every epoch only
        "eval_every": 5,  # epochs between held-out checks of the max/min widths
        "progress": True,
        "tensorboard": True,
        # AutoSlim's recipe (ALGORITHMS.md 1.1): each step trains the max width, the min
        # width and `sandwich_random` random widths on the same batch ...
        "sandwich": False,
        "sandwich_random": 2,
        # ... the narrower ones against the widest's detached softmax (soft CE, T = 1)
        "inplace_distill": False,
        "full_net_every": 0,  # every Nth step trains the full supernet (released BCNet: 2 / 3)
        "compute": None,  # a training-compute budget in MACs (3e13, "30T"): replaces epochs
    },
    "score": {"recal_batches": 10, "batch_size": 64},  # BN recalibration on 640 images
    # the main job (`slimnas run`): search under a FLOPs budget, export, retrain, compare
    "search": {
        "budget": "0.5",  # a fraction of the full width's cost, or "150M", "1.2G" (MACs,
        # params) or "5ms" (latency)
        "cost": "macs",  # what the budget counts: macs | params | latency (needs latency_table)
        "latency_table": None,  # a `slimnas latency build` table (search.cost latency)
        "window": [0.8, 1.0],  # legal FLOPs = window x budget
        "searcher": "evolution",  # any of slimnas.search.searcher_names()
        "init": "prior",  # prior (from the supernet's loss records) | random
        "queries": 60,  # distinct widths scored in the supernet
        "options": {},  # passed to the searcher (population, generations, ...)
        # the prior initial population (ALGORITHMS.md 1.5); the released code: lam 1000,
        # target 0.4, lr 0.01, steps 2000, init random
        "prior": {"lam": 1.0, "target": 1.0, "lr": 0.1, "steps": 3000, "init": "zeros"},
    },
    "retrain": {"epochs": 10, "batch_size": 64, "lr": 0.05, "weight_decay": 5e-4},
}

_FREE_FORM = {"space", "options", "rule_options", "kwargs"}  # sections whose extra keys belong to someone else to validate
# a fraction (float) or a count (int): an int must not become a float (100 -> 100.0)
_FRACTION_OR_COUNT = {"data.held_out", "data.test_fraction", "data.subset"}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                defaults: dict | None = None) -> dict:
    """DEFAULTS (with `defaults`' top-level keys replaced) <- YAML file <- overrides, checked."""
    base = copy.deepcopy(DEFAULTS)
    for key, value in (defaults or {}).items():
        if key not in base:
            raise SlimnasError(f"defaults: unknown config key {key!r}")
        base[key] = copy.deepcopy(value)
    cfg = layered_config(base, path, overrides)
    check_config(cfg)
    return cfg


def layered_config(defaults: dict, path: str | Path | None = None,
                   overrides: list[str] | None = None) -> dict:
    """`defaults` <- the YAML file at `path` <- `key.sub=value` overrides, each checked."""
    cfg = copy.deepcopy(defaults)
    if path is not None:
        merge(cfg, read_yaml(path), where=str(path))
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SlimnasError(f"override {item!r} is not key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node: dict = {}
        cur = node
        parts = key.strip().split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
        merge(cfg, node, where=f"override {item!r}")
    return cfg


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SlimnasError(f"no such config file: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SlimnasError(f"malformed YAML in {path}: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SlimnasError(f"{path}: the top level must be a mapping of keys")
    return data


def with_defaults(cfg: dict) -> dict:
    """A stored config (e.g. a checkpoint's) with keys added since it was written filled
    in from DEFAULTS; the stored values win."""
    out = copy.deepcopy(DEFAULTS)

    def fill(base: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                fill(base[key], value)
            else:
                base[key] = copy.deepcopy(value)

    fill(out, cfg)
    return out


def merge(base: dict, new: dict, where: str, prefix: str = "", free: bool = False) -> None:
    for key, value in new.items():
        name = f"{prefix}{key}"
        if key not in base:
            if not free:
                raise SlimnasError(f"{where}: unknown config key {name!r}")
            base[key] = value
            continue
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise SlimnasError(f"{where}: {name!r} must be a mapping")
            merge(default, value, where, f"{name}.", free or key in _FREE_FORM)
        else:
            base[key] = _check_type(name, default, value, where)


def _check_type(name: str, default: Any, value: Any, where: str) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SlimnasError(f"{where}: {name!r} must be true or false, got {value!r}")
        return value
    if isinstance(default, int | float) and not isinstance(value, bool):
        if isinstance(default, int) and isinstance(value, int):
            return value
        if name in _FRACTION_OR_COUNT and isinstance(value, int | float):
            return value  # the range check tells a fraction from a count by its type
        if isinstance(default, float) and isinstance(value, int | float):
            return float(value)
        if isinstance(default, float) and isinstance(value, str):
            with contextlib.suppress(ValueError):
                return float(value)  # YAML reads "5e-4" as a string
    if isinstance(default, str) and isinstance(value, int | float):
        return str(value)  # e.g. a budget given as the number 0.5
    if isinstance(value, type(default)):
        return value
    raise SlimnasError(
        f"{where}: {name!r} must be {type(default).__name__}, got {value!r}"
    )


# --- ranges: each check returns None when the value is fine, else what is allowed ---

Check = Callable[[Any], "str | None"]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(lo: int | None = None) -> Check:
    allowed = "an integer" if lo is None else f"an integer >= {lo}"
    return lambda v: None if _is_int(v) and (lo is None or v >= lo) else allowed


def _num(lo: float = 0.0, hi: float | None = None, *, above: bool = False,
         below: bool = False) -> Check:
    allowed = f"a number {'>' if above else '>='} {lo:g}" if hi is None else \
        f"a number in {'(' if above else '['}{lo:g}, {hi:g}{')' if below else ']'}"

    def check(v: Any) -> str | None:
        ok = _is_num(v) and (v > lo if above else v >= lo) and \
            (hi is None or (v < hi if below else v <= hi))
        return None if ok else allowed
    return check


def _of(kind: type, allowed: str, nullable: bool = False, choices: tuple = ()) -> Check:
    def check(v: Any) -> str | None:
        if v is None and nullable:
            return None
        ok = isinstance(v, kind) and (kind is bool or not isinstance(v, bool))
        return None if ok and (not choices or v in choices) else allowed
    return check


def _nullable(check: Check) -> Check:
    return lambda v: None if v is None else check(v)


def fraction_or_count(value: Any) -> str | None:
    """None for a fraction strictly in (0, 1) given as a float or a whole count >= 1 given
    as an int, else what is allowed (a float >= 1 is neither: 1.0 is not a 1-image count)."""
    if _is_int(value) and value >= 1 or _is_num(value) and isinstance(value, float) \
            and 0 < value < 1:
        return None
    if _is_num(value) and value >= 1:
        return "a fraction < 1 or an integer count (a float >= 1 is neither)"
    return "a fraction in (0, 1) or a whole count >= 1"


def check_fraction_or_count(key: str, value: Any) -> None:
    """Raise SlimnasError unless `value` is a fraction in (0, 1) or an integer count >= 1."""
    allowed = fraction_or_count(value)
    if allowed:
        raise SlimnasError(f"{key} must be {allowed}, got {value!r}")


def _budget(v: Any) -> str | None:
    from slimnas.latency import LatencyCost
    from slimnas.search.budget import parse_cost_budget
    from slimnas.search.costs import MACS

    for cost in (MACS, LatencyCost):  # which cost the budget counts is checked by `run`
        try:
            parse_cost_budget(v, 1, cost)
            return None
        except SlimnasError:
            continue
    return "a positive fraction of the full width's cost, a count with an optional " \
           "K/M/G suffix (0.5, 150M, 1.2G) or a latency with its unit (5ms, 800us)"


def _macs(v: Any) -> str | None:
    try:
        parse_macs(v)
    except SlimnasError:
        return "a positive number of MACs with an optional K/M/G/T/P suffix (3e13, 30T)"
    return None


_MACS = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)([kmgtp]?)$")


def parse_macs(value: Any) -> int:
    """A count of MACs: 3e13, 30000000000000, "30T", "1.5e3G"; SlimnasError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SlimnasError(f"bad MACs count {value!r}")
    m = _MACS.match(str(value).strip().lower().replace("_", ""))
    number = float(m.group(1)) * 1000 ** " kmgtp".index(m.group(2) or " ") if m else 0.0
    if not (m and math.isfinite(number) and number >= 1):
        raise SlimnasError(f"bad MACs count {value!r}: expected e.g. 3e13 or 30T")
    return int(round(number))


def _window(v: Any) -> str | None:
    ok = isinstance(v, list | tuple) and len(v) == 2 and all(map(_is_num, v)) \
        and 0 <= v[0] <= v[1] and v[1] > 0
    return None if ok else "two numbers [low, high] with 0 <= low <= high and high > 0"


_STR, _BOOL, _MAP = (_of(str, "a string"), _of(bool, "true or false"),
                     _of(dict, "a mapping of options"))
_CHECKS: dict[str, Check] = {
    "seed": _int(), "out": _of(str, "a directory name"),
    "device": _of(str, "a device name (auto, cpu, cuda or cuda:N)"), "threads": _int(0),
    "space": lambda v: None if isinstance(v, dict) and isinstance(v.get("name"), str)
    else "a mapping with a family name (space.name) and the family's options",
    "model": _of(str, "zoo:NAME or package.module:factory", nullable=True),
    "model_options.kwargs": _MAP, "model_options.ignore": _of(list, "a list of module names"),
    "model_options.round_to": _int(1),
    "model_options.se": _of(str, "follow or search", choices=("follow", "search")),
    "model_options.init_weights": _of(str, "a state_dict file or null", nullable=True),
    "rule": _STR, "rule_options": _MAP, "bins": _int(1), "min_bins": _int(1),
    "flops_bins": _BOOL, "flops_bins_min": _int(1), "complementary": _BOOL,
    "data.name": _STR, "data.root": _of(str, "a directory or null", nullable=True),
    "data.held_out": fraction_or_count, "data.held_out_seed": _nullable(_int()),
    "data.test_fraction": fraction_or_count,
    "data.subset": _nullable(fraction_or_count), "data.subset_seed": _int(),
    "data.input_size": _nullable(_int(1)), "data.in_channels": _nullable(_int(1)),
    "data.pad": _int(0), "data.flip": _BOOL,
    "train.epochs": _int(1), "train.batch_size": _int(1), "train.lr": _num(0, above=True),
    "train.momentum": _num(0, 1, below=True), "train.nesterov": _BOOL,
    "train.weight_decay": _num(0), "train.micro_batches": _int(1), "train.records": _int(0),
    "train.checkpoint_every_steps": _int(0), "train.eval_every": _int(0),
    "train.progress": _BOOL, "train.tensorboard": _BOOL, "train.sandwich": _BOOL,
    "train.sandwich_random": _int(0), "train.inplace_distill": _BOOL,
    "train.full_net_every": _int(0), "train.compute": _nullable(_macs),
    "score.recal_batches": _int(1), "score.batch_size": _int(1),
    "search.budget": _budget, "search.window": _window, "search.searcher": _STR,
    "search.cost": _of(str, "macs, params or latency", choices=("macs", "params", "latency")),
    "search.latency_table": _of(str, "a latency table's path", nullable=True),
    "search.init": _of(str, "prior or random", choices=("prior", "random")),
    "search.queries": _int(1), "search.options": _MAP,
    "search.prior.lam": _num(0), "search.prior.target": _num(0, above=True),
    "search.prior.lr": _num(0, above=True), "search.prior.steps": _int(0),
    "search.prior.init": _of(str, "zeros or random", choices=("zeros", "random")),
    "retrain.epochs": _int(1), "retrain.batch_size": _int(1),
    "retrain.lr": _num(0, above=True), "retrain.weight_decay": _num(0),
}


def check_config(cfg: dict) -> None:
    """Check every core key's type and range (a dict built by `load_config` and then
    changed, say); the first bad one raises SlimnasError with one line naming it."""
    for key, check in _CHECKS.items():
        node: Any = cfg
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SlimnasError(f"the config lacks the key {key!r}")
            node = node[part]
        allowed = check(node)
        if allowed:
            raise SlimnasError(f"{key} must be {allowed}, got {node!r}")
    if cfg["min_bins"] > cfg["bins"]:
        raise SlimnasError(f"min_bins must be <= bins ({cfg['bins']}), got {cfg['min_bins']}")
    t = cfg["train"]
    if t["inplace_distill"] and not t["sandwich"]:
        raise SlimnasError("train.inplace_distill needs train.sandwich: true (the max width "
                           "of each sandwich step is the teacher)")
    if t["full_net_every"] == 1:
        raise SlimnasError("train.full_net_every must be 0 (off) or >= 2, got 1 (every "
                           "step would train the full supernet only)")


def dump_config(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


def parse_key_values(items: list[str] | None, flag: str = "--option") -> dict:
    """`--option key=value` pairs (values parsed with yaml.safe_load, never eval)."""
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SlimnasError(f"{flag} {item!r} is not key=value")
        try:
            out[key] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key] = raw
    return out


def differing_keys(old: dict, new: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted keys whose values differ between two configs (a key missing on one side
    counts as differing); keys equal to or under an `ignore` entry are skipped."""
    out: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        name = prefix.rstrip(".")
        if any(name == k or name.startswith(k + ".") for k in ignore):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in dict.fromkeys([*a, *b]):
                walk(a.get(key, _MISSING), b.get(key, _MISSING), f"{prefix}{key}.")
        elif a != b:
            out.append(name)

    walk(old, new, "")
    return out


_MISSING = object()
