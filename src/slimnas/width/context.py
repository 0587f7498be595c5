"""Build what a config names: data tensors, the width space and the sharing rule.

Shared by training, scoring and export so that all three see the same split, the same
normalisation and the same space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from slimnas.data import ImageData, channel_stats, load_split, to_float
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
    """The width space a config names (a built-in `space`, or the user's `model`) and the
    sharing rule that trains it."""
    rule = get_rule(cfg["rule"], **cfg["rule_options"])
    if cfg.get("model"):
        return _model_space(cfg, data, rule), rule
    options = {k: v for k, v in cfg["space"].items() if k != "name"}
    round_to = options.pop("round_to", 1)  # the space's, not a family option
    _, c, h, _ = data.x.shape
    options.setdefault("in_channels", c)
    options.setdefault("input_size", h)
    options.setdefault("num_classes", data.num_classes)
    space = rule.make_space(cfg["space"]["name"], cfg["bins"], cfg["min_bins"],
                            flops_bins=cfg["flops_bins"], flops_bins_min=cfg["flops_bins_min"],
                            round_to=round_to, **options)
    return space, rule


def _model_space(cfg: dict, data: ImageData, rule) -> WidthSpace:
    from slimnas.width.own import from_model
    from slimnas.width.own.models import load_model

    o = cfg["model_options"]
    _, c, h, w = data.x.shape
    torch.manual_seed(cfg["seed"])  # the factory's initial weights: the same every run
    model = load_model(cfg["model"], data.num_classes, c, o["kwargs"], o["init_weights"])
    return from_model(model, torch.zeros(1, c, h, w), cfg["bins"], cfg["min_bins"],
                      ignore=o["ignore"], round_to=o["round_to"], se=o["se"],
                      enlarge=rule.enlarges,
                      flops_bins=cfg["flops_bins"], flops_bins_min=cfg["flops_bins_min"],
                      name=cfg["model"])


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
