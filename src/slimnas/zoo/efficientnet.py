"""EfficientNet-B0 (Tan & Le 2019) with torchvision's module names: features.0 (stem),
features.1..7 (stages of MBConv blocks, each `block` Sequential: expand, depthwise,
squeeze-excitation fc1/fc2, project), features.8 (1x1 head), avgpool, classifier.1."""

from __future__ import annotations

import torch
from torch import nn

from slimnas.zoo.layers import (
    SqueezeExcitation,
    StochasticDepth,
    conv_norm_act,
    init_weights,
    make_divisible,
)
from slimnas.zoo.registry import ZOO

# (expansion, kernel, first stride, input channels, output channels, blocks) per stage
_B0 = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
       (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int,
                 drop_prob: float):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        hidden = make_divisible(cin * expand)
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(conv_norm_act(cin, hidden, 1, activation=nn.SiLU))
        layers += [
            conv_norm_act(hidden, hidden, kernel, stride, groups=hidden, activation=nn.SiLU),
            SqueezeExcitation(hidden, max(1, cin // 4), activation=nn.SiLU),
            conv_norm_act(hidden, cout, 1, activation=None),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop_prob)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet(nn.Module):
    def __init__(self, setting: tuple[tuple[int, ...], ...], num_classes: int = 1000,
                 in_channels: int = 3, dropout: float = 0.2, stochastic_depth: float = 0.2):
        super().__init__()
        features: list[nn.Module] = [
            conv_norm_act(in_channels, setting[0][3], 3, 2, activation=nn.SiLU)]
        total = sum(s[-1] for s in setting)
        done = 0
        for expand, kernel, stride, cin, cout, n in setting:
            stage = []
            for i in range(n):
                # the drop rate grows linearly with the block's depth in the whole net
                stage.append(MBConv(cin if i == 0 else cout, cout, expand, kernel,
                                    stride if i == 0 else 1, stochastic_depth * done / total))
                done += 1
            features.append(nn.Sequential(*stage))
        last_in = setting[-1][4]
        features.append(conv_norm_act(last_in, 4 * last_in, 1, activation=nn.SiLU))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout, inplace=True),
                                        nn.Linear(4 * last_in, num_classes))
        init_weights(self, linear="uniform")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@ZOO.register("efficientnet_b0")
def efficientnet_b0(num_classes: int = 1000, in_channels: int = 3) -> EfficientNet:
    """EfficientNet-B0 (5.3M params at 1000 classes); stochastic depth only while training."""
    return EfficientNet(_B0, num_classes, in_channels)
