"""Building blocks the zoo models share, laid out as torchvision lays them out so that
torchvision state_dict keys (`features.0.0.weight`, `block.1.fc1.weight`, ...) match."""

from __future__ import annotations

import torch
from torch import nn


def conv_norm_act(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                  activation: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """Conv (no bias, "same" padding) -> BatchNorm -> activation: torchvision's
    Conv2dNormActivation as a plain Sequential (indices 0, 1, 2)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel gate: pool -> fc1 (1x1 conv) -> activation -> fc2 -> sigmoid, times the input."""

    def __init__(self, channels: int, squeeze: int,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = activation(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class StochasticDepth(nn.Module):
    """Drops a residual branch per sample while training (kept ones scaled by 1 / keep);
    the identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def make_divisible(value: float, divisor: int = 8) -> int:
    """`value` rounded to a multiple of `divisor`, never more than 10% below it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def init_weights(model: nn.Module, linear: str = "normal") -> None:
    """torchvision's initialisation: Kaiming-normal (fan_out) convs with zero biases, BN
    weight 1 and bias 0; Linear as `linear` says ("normal": N(0, 0.01); "uniform": U(+-1 /
    sqrt(out_features)); "default": torch's own), zero biases unless "default"."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear != "default":
            if linear == "normal":
                nn.init.normal_(m.weight, 0, 0.01)
            else:
                bound = 1.0 / m.out_features ** 0.5
                nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
