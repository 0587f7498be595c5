"""Build what a config names: data tensors, the width space and the sharing rule.

Shared by training, scoring and export so that all three see the same split, the same
normalisation and the same space.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from slimnas.data import ImageData, channel_stats, load_dataset, split_held_out, to_float
from slimnas.errors import SlimnasError
from slimnas.runs import resolve_device
from slimnas.width.sharing import get_rule
from slimnas.width.space import WidthSpace


@dataclass
class Context:
    space: WidthSpace
    rule: object
    train_x: torch.Tensor  # float, normalised, on device
    train_y: torch.Tensor
    held_x: torch.Tensor
    held_y: torch.Tensor
    recal_x: torch.Tensor  # fixed training inputs for BN recalibration
    mean: list[float]
    std: list[float]
    device: torch.device
    recal_y: torch.Tensor | None = None  # labels of recal_x


def make_space(cfg: dict, data: ImageData) -> tuple[WidthSpace, object]:
    rule = get_rule(cfg["rule"], **cfg["rule_options"])
    options = {k: v for k, v in cfg["space"].items() if k != "name"}
    _, c, h, _ = data.x.shape
    options.setdefault("in_channels", c)
    options.setdefault("input_size", h)
    options.setdefault("num_classes", data.num_classes)
    space = rule.make_space(cfg["space"]["name"], cfg["bins"], cfg["min_bins"],
                            flops_bins=cfg["flops_bins"], flops_bins_min=cfg["flops_bins_min"],
                            **options)
    return space, rule


def has_test_split(d: dict) -> bool:
    if d["name"] == "digits":
        return False
    if d["name"] == "imagefolder":
        return d["root"] is not None and (Path(d["root"]) / "test").is_dir()
    return True


def _count(v: float | int) -> float | int:
    # a whole float >= 1 (100.0) is a count only in stored configs of older versions, whose
    # schema turned an int count into a float; load_config now refuses it, and so does
    # split_held_out any float >= 1 that reaches it (1.5 is no count)
    return int(v) if isinstance(v, float) and v >= 1 and v.is_integer() else v


def train_and_test(cfg: dict) -> tuple[ImageData, ImageData | None]:
    """The training data and, when the dataset has no test split, the carved-off test part."""
    d = cfg["data"]
    data = load_dataset(d["name"], d["root"], "train", d["input_size"], d["in_channels"])
    carved = None
    if not has_test_split(d):
        # never trained on nor used for scoring: the final comparison's test set
        data, carved = split_held_out(data, _count(d["test_fraction"]), cfg["seed"] + 1,
                                      "data.test_fraction")
    sub = d["subset"]
    if sub is not None:  # a stratified subset of the training part, the same for every seed
        if isinstance(sub, bool) or not isinstance(sub, int | float) or sub <= 0:
            raise SlimnasError(f"data.subset must be a fraction in (0, 1) or a count, got {sub!r}")
        if sub < 1 or sub < len(data):
            data = split_held_out(data, _count(sub), d["subset_seed"], "data.subset")[1]
    return data, carved


def load_split(cfg: dict) -> tuple[ImageData, ImageData]:
    """(training part, held-out part for scoring); the test part is kept out of both."""
    train, _ = train_and_test(cfg)
    return split_held_out(train, _count(cfg["data"]["held_out"]), cfg["seed"])


def load_test(cfg: dict) -> ImageData:
    """The final test set: the dataset's test split, or the part `load_split` carved off."""
    d = cfg["data"]
    _, carved = train_and_test(cfg)
    if carved is not None:
        return carved
    return load_dataset(d["name"], d["root"], "test", d["input_size"], d["in_channels"])


def build_context(cfg: dict, device: torch.device | None = None,
                  recal_batches: int | None = None) -> Context:
    device = device or resolve_device(cfg["device"])
    train, held = load_split(cfg)
    space, rule = make_space(cfg, train)
    mean, std = channel_stats(train)
    train_x = to_float(train.x, mean, std).to(device)
    held_x = to_float(held.x, mean, std).to(device)
    sc = cfg["score"]
    n = (recal_batches or sc["recal_batches"]) * sc["batch_size"]
    g = torch.Generator().manual_seed(cfg["seed"] + 7919)
    recal_idx = torch.randperm(len(train), generator=g)[:n].to(device)
    train_y = train.y.to(device)
    return Context(space, rule, train_x, train_y, held_x, held.y.to(device),
                   train_x[recal_idx], mean, std, device, train_y[recal_idx])
