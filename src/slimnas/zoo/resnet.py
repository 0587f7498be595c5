"""ResNet-18 and ResNet-50 (He et al. 2016; the V1.5 Bottleneck, stride on its 3x3 conv),
with torchvision's module names: conv1, bn1, layer1..layer4 of blocks (conv1/bn1, ...,
downsample.0/.1), avgpool, fc."""

from __future__ import annotations

import torch
from torch import nn

from slimnas.zoo.layers import init_weights
from slimnas.zoo.registry import ZOO


def _shortcut(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    """1x1 conv + BN where the block changes shape, else None (an identity shortcut)."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(cin, planes, stride)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock | Bottleneck], depths: tuple[int, ...],
                 num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, depth in enumerate(depths):
            planes = 64 * 2 ** i
            blocks = []
            for j in range(depth):
                blocks.append(block(cin, planes, 2 if i > 0 and j == 0 else 1))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self, linear="default")  # torchvision keeps torch's Linear init here

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@ZOO.register("resnet18")
def resnet18(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-18: BasicBlocks, 2-2-2-2 (11.7M params at 1000 classes)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels)


@ZOO.register("resnet50")
def resnet50(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-50: Bottlenecks, 3-4-6-3 (25.6M params at 1000 classes)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels)
