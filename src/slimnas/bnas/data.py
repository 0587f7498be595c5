"""The data a cell search and an evaluation run see: normalised tensors on the device.

The final test part (a dataset's test split, or the part carved off when it has none) is
never touched by the search. The search splits its training part in two halves: network
weights learn on one, architecture parameters on the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from slimnas.data import channel_stats, load_parts, split_held_out, to_float


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
