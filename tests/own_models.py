"""Small models of the kinds users bring, and helpers for the own-model and zoo tests."""

import random

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.reduce = nn.Conv2d(channels, channels // reduction, 1)
        self.expand = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))


class ResidualSEConcatNet(nn.Module):
    """Residual add, depthwise conv, squeeze-excitation, a concat and flatten -> Linear."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.se = SqueezeExcite(16)
        self.side = nn.Conv2d(16, 8, 3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(8)
        self.main = nn.Conv2d(16, 12, 3, stride=2, padding=1, dilation=1)
        self.bn4 = nn.BatchNorm2d(12)
        self.fuse = nn.Conv2d(20, 24, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(24)
        self.fc1 = nn.Linear(24 * 4, 32)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = F.relu(self.bn0(self.stem(x)))
        y = self.bn2(self.pw(F.relu(self.bn1(self.dw(x)))))
        x = F.relu(x + self.se(y))
        x = torch.cat([F.relu(self.bn4(self.main(x))), F.relu(self.bn3(self.side(x)))], 1)
        x = F.relu(self.bn5(self.fuse(x)))
        x = F.adaptive_avg_pool2d(x, 2).flatten(1)
        return self.fc(F.relu(self.fc1(x)))


class GroupedConvNet(nn.Module):
    """A grouped (not depthwise) conv: its groups are kept at full width, named."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.head = nn.Conv2d(8, 16, 1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = F.relu(self.grouped(F.relu(self.stem(x))))
        return self.fc(F.relu(self.head(x)).mean((2, 3)))


class LooseParameterNet(nn.Module):
    """A parameter used in `forward` outside any layer: its channels stay at full width."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.scale = nn.Parameter(torch.ones(8))
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = F.relu(self.c1(x)) * self.scale.view(1, -1, 1, 1)
        return self.fc(F.relu(self.c2(x)).mean((2, 3)))


class DictOutputNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return {"logits": self.conv(x).mean((2, 3))}


def randomise_bn(model: nn.Module, seed: int = 0, scale: float = 1.0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so a wrong channel shows (`scale`:
    of the means and biases; deep nets want small ones)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_((torch.rand(n, generator=g) * 2 - 1) * scale)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_((torch.rand(n, generator=g) * 2 - 1) * scale / 2)
    return model


def random_path(channels, rng: random.Random, kind: str) -> tuple:
    """Per-group selections: left slices, right slices (BCNet's right path) or any index
    sets (CafeNet's free channels)."""
    path = []
    for c in channels:
        k = rng.randint(1, c)
        if kind == "left":
            path.append(slice(0, k))
        elif kind == "right":
            path.append(slice(c - k, c))
        else:
            path.append(torch.tensor(sorted(rng.sample(range(c), k))))
    return tuple(path)
