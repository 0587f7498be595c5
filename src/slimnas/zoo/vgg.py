"""VGG-16 with BatchNorm (Simonyan & Zisserman 2015) with torchvision's module names:
features.N (conv, BN, ReLU triples and max pools), avgpool, classifier.0/3/6; and a CIFAR
variant with the same features, a global pool and one Linear (classifier.0: 512 -> classes)."""

from __future__ import annotations

import torch
from torch import nn

from slimnas.zoo.layers import init_weights
from slimnas.zoo.registry import ZOO

# configuration "D": conv widths, "M" a 2x2 max pool
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M")


def _features(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = in_channels
    for v in _VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, cifar: bool = False,
                 dropout: float = 0.5):
        super().__init__()
        self.features = _features(in_channels)
        if cifar:  # 32x32 inputs leave 1x1 maps: no 7x7 grid, no 4096-wide hidden layers
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.classifier = nn.Sequential(nn.Linear(512, num_classes))
        else:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(dropout),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
                nn.Linear(4096, num_classes))
        init_weights(self, linear="normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@ZOO.register("vgg16_bn")
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-16 with BatchNorm, torchvision's ImageNet head (138.4M params at 1000 classes)."""
    return VGG(num_classes, in_channels)


@ZOO.register("vgg16_bn_cifar")
def vgg16_bn_cifar(num_classes: int = 1000, in_channels: int = 3) -> VGG:
    """VGG-16 with BatchNorm for small images: global pool, one Linear 512 -> classes."""
    return VGG(num_classes, in_channels, cifar=True)
