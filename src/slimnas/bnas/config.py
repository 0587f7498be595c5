"""The bnas config schema: its own DEFAULTS, the same strict YAML + key=value overrides as
`slimnas.config` (its merge and type checks are reused), and the search variants.

`variant` fills every `search` key left null: net, clr, partial_channels, edge_norm.
An explicit value always wins, e.g. `variant=bnas-d search.clr=true` is BNAS-v2-CLR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimnas.config import check_fraction_or_count, layered_config
from slimnas.errors import SlimnasError

VARIANTS: dict[str, dict[str, Any]] = {
    "bnas-d": {"net": "bcnn", "clr": False, "partial_channels": 1, "edge_norm": False},
    "bnas-v2-clr": {"net": "bcnn", "clr": True, "partial_channels": 1, "edge_norm": False},
    "bnas-v2-pc": {"net": "bcnn", "clr": False, "partial_channels": 4, "edge_norm": True},
    "darts": {"net": "darts", "clr": False, "partial_channels": 1, "edge_norm": False},
    "darts-clr": {"net": "darts", "clr": True, "partial_channels": 1, "edge_norm": False},
}
NETS = ("bcnn", "darts")
LAYOUTS = ("released", "compact")  # the BCNN search network's (bnas/bodies.py)

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "out": "runs/bnas",
    "device": "auto",  # auto | cpu | cuda | cuda:N
    # torch CPU threads while searching / training (0: torch's default). Cells are many tiny
    # ops: extra threads barely help, and on a busy machine they spin and slow a step 10x.
    "threads": 1,
    "variant": "bnas-d",  # bnas-d | bnas-v2-clr | bnas-v2-pc | darts | darts-clr
    "data": {
        "name": "digits",
        "root": None,
        "held_out": 0.2,  # kept out of the search's two halves; scores each epoch
        "test_fraction": 0.2,  # carved off as the final test set when there is no test split
        "input_size": None,  # None: as stored (digits: 8 x 8)
        "in_channels": None,
        "pad": 1,  # random-crop padding
        "flip": False,
    },
    "search": {
        "net": None,  # bcnn | darts (null: the variant's)
        "clr": None,  # arch lr x ((epoch + 1) / epochs) ** 2 (null: the variant's)
        "partial_channels": None,  # K (null: the variant's; 1 = all channels)
        "edge_norm": None,  # betas per edge (null: the variant's)
        "channels": 16,  # C
        "nodes": 4,
        "blocks": 2,  # bcnn: convolution blocks (one reduction cell each)
        "enhancement_cells": 1,  # bcnn
        # bcnn side-path widths: released (as the authors' model_search_b.py) | compact
        "layout": "released",
        "cells": 5,  # darts: stride 2 at 1/3 and 2/3
        "epochs": 8,
        "batch_size": 64,
        "max_steps_per_epoch": 0,  # 0: a pass over the smaller half
        "lr": 0.025,  # weights: SGD + per-step cosine to lr_min
        "lr_min": 0.001,
        "momentum": 0.9,
        "weight_decay": 3.0e-4,
        "grad_clip": 5.0,
        "arch_lr": 3.0e-4,  # alphas (and betas): Adam
        "arch_betas": [0.5, 0.999],
        "arch_weight_decay": 1.0e-3,
        "arch_warmup": 0,  # epochs before the first alpha / beta update
        "eval_every": 1,  # epochs between held-out top-1 checks (0: never)
        "progress": True,
        "tensorboard": True,
    },
    "train": {  # the evaluation network built from a genotype (`slimnas bnas train`)
        "out": None,  # null: <out>/train
        "net": None,  # bcnn | darts (null: the variant's)
        "channels": 16,  # C (the papers: 48 for BCNN on CIFAR-10)
        "cells": 6,  # convolution cells (bcnn) or all cells (darts)
        "reduction_at": None,  # 0-based stride-2 positions (null: bcnn [2, 5] of 6, darts thirds)
        "enhancement_cells": 2,  # bcnn
        "drop_path": 0.2,  # grows linearly to this over the epochs
        "cutout": 0,  # square side in pixels (0: off)
        "epochs": 20,
        "batch_size": 64,
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 3.0e-4,
        "grad_clip": 5.0,
        "onnx": True,
        "progress": True,
        "tensorboard": True,
    },
}


def load_bnas_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """DEFAULTS <- YAML file <- key=value overrides, checked; variant keys resolved."""
    return resolve(layered_config(DEFAULTS, path, overrides))


def resolve(cfg: dict) -> dict:
    """Fill the null search / train keys from the variant and check every value's range."""
    variant = cfg["variant"]
    if variant not in VARIANTS:
        raise SlimnasError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    s, t = cfg["search"], cfg["train"]
    for key, value in VARIANTS[variant].items():
        if s[key] is None:
            s[key] = value
    if t["net"] is None:
        t["net"] = s["net"]
    for where, net in (("search.net", s["net"]), ("train.net", t["net"])):
        if net not in NETS:
            raise SlimnasError(f"{where} must be one of {', '.join(NETS)}, got {net!r}")
    if s["layout"] not in LAYOUTS:
        raise SlimnasError(f"search.layout must be one of {', '.join(LAYOUTS)}, "
                           f"got {s['layout']!r}")
    for key in ("clr", "edge_norm"):
        if not isinstance(s[key], bool):
            raise SlimnasError(f"search.{key} must be true or false, got {s[key]!r}")
    if isinstance(cfg["threads"], bool) or not isinstance(cfg["threads"], int) \
            or cfg["threads"] < 0:
        raise SlimnasError(f"threads must be a non-negative integer, got {cfg['threads']!r}")
    for key in ("held_out", "test_fraction"):
        check_fraction_or_count(f"data.{key}", cfg["data"][key])
    _positive(s, "search", "partial_channels", "channels", "nodes", "blocks",
              "enhancement_cells", "cells", "epochs", "batch_size")
    _positive(t, "train", "channels", "cells", "enhancement_cells", "epochs", "batch_size")
    _non_negative(s, "search", "max_steps_per_epoch", "arch_warmup", "eval_every", "lr_min",
                  "momentum", "weight_decay", "grad_clip", "arch_lr", "arch_weight_decay")
    _non_negative(t, "train", "cutout", "momentum", "weight_decay", "grad_clip")
    for where, lr in (("search.lr", s["lr"]), ("train.lr", t["lr"])):
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
            raise SlimnasError(f"{where} must be a number > 0, got {lr!r}")
    smallest = s["channels"] * (1 if s["net"] == "darts" else 2)  # the first cells' width
    if smallest % s["partial_channels"]:
        raise SlimnasError(f"search.partial_channels {s['partial_channels']} must divide the "
                           f"{smallest} channels of the first {s['net']} cells")
    betas = s["arch_betas"]
    if (len(betas) != 2 or not all(isinstance(b, int | float) and not isinstance(b, bool)
                                   and 0 <= b < 1 for b in betas)):
        raise SlimnasError(f"search.arch_betas must be two numbers in [0, 1), got {betas!r}")
    if not 0.0 <= t["drop_path"] < 1.0:
        raise SlimnasError(f"train.drop_path must be in [0, 1), got {t['drop_path']!r}")
    ra = t["reduction_at"]
    if ra is not None and (not isinstance(ra, list) or len(set(ra)) != len(ra) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < t["cells"] for i in ra)):
        raise SlimnasError(f"train.reduction_at must list distinct cell positions in "
                           f"0..{t['cells'] - 1}, got {ra!r}")
    return cfg


def _positive(section: dict, name: str, *keys: str) -> None:
    for k in keys:
        v = section[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SlimnasError(f"{name}.{k} must be a positive integer, got {v!r}")


def _non_negative(section: dict, name: str, *keys: str) -> None:
    for k in keys:
        v = section[k]
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise SlimnasError(f"{name}.{k} must be a non-negative number, got {v!r}")
