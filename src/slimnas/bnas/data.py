"""The data a cell search and an evaluation run see: normalised tensors on the device.

The final test part (a dataset's test split, or the part carved off when it has none) is
never touched by the search. The search splits its training part in two halves: network
weights learn on one, architecture parameters on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from slimnas.data import ImageData, channel_stats, load_dataset, split_held_out, to_float


@dataclass
class Split:
    x: torch.Tensor  # float, normalised, on the device
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class BnasData:
    train: Split  # search: the weights' half; evaluation training: all training images
    arch: Split | None  # search: the alphas' half
    held: Split
    mean: list[float]
    std: list[float]
    in_channels: int
    input_size: int
    num_classes: int


def _count(v: float | int) -> float | int:
    return int(v) if v >= 1 else float(v)


def _has_test_split(d: dict) -> bool:
    if d["name"] == "digits":
        return False
    if d["name"] == "imagefolder":
        return d["root"] is not None and (Path(d["root"]) / "test").is_dir()
    return True


def load_parts(cfg: dict) -> tuple[ImageData, ImageData, ImageData]:
    """(training part, held-out part, test part), the test part carved off first (seed + 1)
    when the dataset has no test split, the held-out part from the rest (seed)."""
    d = cfg["data"]
    data = load_dataset(d["name"], d["root"], "train", d["input_size"], d["in_channels"])
    if _has_test_split(d):
        test = load_dataset(d["name"], d["root"], "test", d["input_size"], d["in_channels"])
    else:  # never searched on, trained on nor used for scoring
        data, test = split_held_out(data, _count(d["test_fraction"]), cfg["seed"] + 1)
    train, held = split_held_out(data, _count(d["held_out"]), cfg["seed"])
    return train, held, test


def _split(data, mean, std, device) -> Split:
    return Split(to_float(data.x, mean, std).to(device), data.y.to(device))


def load_search_data(cfg: dict, device: torch.device) -> BnasData:
    train, held, _ = load_parts(cfg)
    mean, std = channel_stats(train)
    weights_half, arch_half = split_held_out(train, 0.5, cfg["seed"] + 2)
    _, c, h, _ = train.x.shape
    return BnasData(_split(weights_half, mean, std, device), _split(arch_half, mean, std, device),
                    _split(held, mean, std, device), mean, std, c, h, train.num_classes)


def load_train_data(cfg: dict, device: torch.device) -> tuple[BnasData, Split]:
    """(training + held-out data, the final test part) for an evaluation network."""
    train, held, test = load_parts(cfg)
    mean, std = channel_stats(train)
    _, c, h, _ = train.x.shape
    data = BnasData(_split(train, mean, std, device), None, _split(held, mean, std, device),
                    mean, std, c, h, train.num_classes)
    return data, _split(test, mean, std, device)


@torch.no_grad()
def top1(net: torch.nn.Module, split: Split, batch_size: int = 256) -> float:
    """Top-1 accuracy in percent, eval mode (the caller restores train mode)."""
    net.eval()
    correct = 0
    for i in range(0, len(split), batch_size):
        correct += int((net(split.x[i:i + batch_size]).argmax(1)
                        == split.y[i:i + batch_size]).sum())
    return 100.0 * correct / max(1, len(split))
