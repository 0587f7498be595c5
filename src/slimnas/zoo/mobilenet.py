"""MobileNetV2 (Sandler et al. 2018) with torchvision's module names: features.N (stem,
17 inverted residuals with their `.conv` Sequential, the 1x1 head), classifier.1."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from slimnas.zoo.layers import conv_norm_act, init_weights
from slimnas.zoo.registry import ZOO

# (expansion t, output channels c, blocks n, first stride s), as in the paper's Table 2
_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_norm_act(cin, hidden, 1, activation=nn.ReLU6))
        layers += [conv_norm_act(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2):
        super().__init__()
        cin, last = 32, 1280
        features: list[nn.Module] = [conv_norm_act(in_channels, cin, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in _SETTING:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(conv_norm_act(cin, last, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        init_weights(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


@ZOO.register("mobilenet_v2")
def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3) -> MobileNetV2:
    """MobileNetV2 at width 1.0 (3.5M params at 1000 classes)."""
    return MobileNetV2(num_classes, in_channels)
