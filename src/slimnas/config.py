"""YAML configs with a strict schema: defaults below, `key.sub=value` overrides.

Values are parsed with `yaml.safe_load` (never eval). Unknown keys and values of the
wrong type are errors with one clear line. `space` takes any option of its family.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import yaml

from slimnas.errors import SlimnasError

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "out": "runs/default",
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "space": {"name": "cbm-mobilenet", "width_mult": 0.25},  # + any family option
    "rule": "bcnetv2",  # ua | bcnet | bcnetv2 | cafenet
    "rule_options": {},  # passed to the rule (cafenet: offset, candidates, select)
    "bins": 4,
    "min_bins": 1,
    "flops_bins": False,  # FLOPs-sensitive per-group bin counts (CafeNet, 1.8)
    "flops_bins_min": 2,  # ... but never fewer bins than this in a group
    "complementary": True,
    "data": {
        "name": "digits",
        "root": None,
        "held_out": 0.2,  # fraction (or count) of the training set kept for scoring
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
    },
    "score": {"recal_batches": 10, "batch_size": 64},  # BN recalibration on 640 images
    # the main job (`slimnas run`): search under a FLOPs budget, export, retrain, compare
    "search": {
        "budget": "0.5",  # a fraction of the full-width FLOPs (MACs), or "150M", "1.2G"
        "window": [0.8, 1.0],  # legal FLOPs = window x budget
        "searcher": "evolution",  # evolution | random | greedy
        "init": "prior",  # prior (from the supernet's loss records) | random
        "queries": 60,  # distinct widths scored in the supernet
        "options": {},  # passed to the searcher (population, generations, ...)
    },
    "retrain": {"epochs": 10, "batch_size": 64, "lr": 0.05, "weight_decay": 5e-4},
}

_FREE_FORM = {"space", "options", "rule_options"}  # sections whose extra keys belong to someone else to validate


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    return layered_config(DEFAULTS, path, overrides)


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
