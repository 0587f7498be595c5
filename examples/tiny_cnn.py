"""The README's own model: a 30-line CNN with a residual block, a depthwise conv and
squeeze-excitation, slimmed by `slimnas run model=examples.tiny_cnn:TinyCNN`."""

import torch
import torch.nn.functional as F
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(width)
        self.dw = nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.pw = nn.Conv2d(width, width, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.se_reduce = nn.Conv2d(width, width // 4, 1)
        self.se_expand = nn.Conv2d(width // 4, width, 1)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.stem(x)))
        y = self.bn2(self.pw(F.relu(self.bn1(self.dw(x)))))
        gate = torch.sigmoid(self.se_expand(F.relu(self.se_reduce(y.mean((2, 3), keepdim=True)))))
        x = F.relu(x + y * gate)  # residual, squeeze-excited
        x = F.relu(self.bn3(self.down(x)))
        return self.fc(x.mean((2, 3)))
