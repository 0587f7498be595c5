"""Dynamic conv / BN / linear: full-width parameters, computed on any channel selection.

A selection is a `slice` (contiguous channels: views, no copies) or a LongTensor of
indices (any set, e.g. CafeNet's free channels). `None` means every channel.
BN is shared per channel: running statistics of the selected channels are updated in
place, and `to_static` freezes a selection into plain torch layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Selection = slice | torch.Tensor | None
_ALL = slice(None)


def select(t: torch.Tensor, dim: int, sel: Selection) -> torch.Tensor:
    if sel is None:
        return t
    if isinstance(sel, slice):
        return t[(slice(None),) * dim + (sel,)]
    return t.index_select(dim, sel.to(t.device))


class DynamicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, depthwise: bool = False):
        super().__init__()
        self.kernel, self.stride, self.depthwise = kernel, stride, depthwise
        self.padding = kernel // 2
        self.weight = nn.Parameter(torch.empty(cout, 1 if depthwise else cin, kernel, kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor, sin: Selection, sout: Selection) -> torch.Tensor:
        if self.depthwise:
            w = select(self.weight, 0, sout)
            return F.conv2d(x, w, None, self.stride, self.padding, 1, w.shape[0])
        if isinstance(sin, slice | None) and isinstance(sout, slice | None):
            w = self.weight[sout or _ALL, sin or _ALL]  # one view op: a cheaper graph
        else:
            w = select(select(self.weight, 0, sout), 1, sin)
        return F.conv2d(x, w, None, self.stride, self.padding)

    def to_static(self, sin: Selection, sout: Selection) -> nn.Conv2d:
        w = select(self.weight, 0, sout)
        if not self.depthwise:
            w = select(w, 1, sin)
        groups = w.shape[0] if self.depthwise else 1
        cin = w.shape[0] if self.depthwise else w.shape[1]
        conv = nn.Conv2d(cin, w.shape[0], self.kernel, self.stride, self.padding, groups=groups,
                         bias=False)
        conv.weight.data.copy_(w.detach())
        return conv


class DynamicBatchNorm2d(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def reset_running_stats(self) -> None:
        self.running_mean.zero_()
        self.running_var.fill_(1)
        self.num_batches_tracked.zero_()

    def forward(self, x: torch.Tensor, sel: Selection) -> torch.Tensor:
        factor = 0.0
        if self.training:
            self.num_batches_tracked.add_(1)
            # momentum None = cumulative average (BN recalibration), as nn.BatchNorm2d
            factor = (1.0 / float(self.num_batches_tracked)) if self.momentum is None \
                else self.momentum
        if sel is None or isinstance(sel, slice):
            # slices are views: running stats of those channels update in place
            return F.batch_norm(x, select(self.running_mean, 0, sel),
                                select(self.running_var, 0, sel), select(self.weight, 0, sel),
                                select(self.bias, 0, sel), self.training, factor, self.eps)
        idx = sel.to(x.device)
        rm, rv = self.running_mean[idx], self.running_var[idx]
        out = F.batch_norm(x, rm, rv, self.weight[idx], self.bias[idx], self.training, factor,
                           self.eps)
        if self.training:
            self.running_mean[idx] = rm
            self.running_var[idx] = rv
        return out

    def to_static(self, sel: Selection) -> nn.BatchNorm2d:
        w = select(self.weight, 0, sel)
        bn = nn.BatchNorm2d(w.shape[0], eps=self.eps, momentum=self.momentum)
        bn.weight.data.copy_(w.detach())
        bn.bias.data.copy_(select(self.bias, 0, sel).detach())
        bn.running_mean.copy_(select(self.running_mean, 0, sel))
        bn.running_var.copy_(select(self.running_var, 0, sel))
        bn.num_batches_tracked.copy_(self.num_batches_tracked)
        return bn


class DynamicLinear(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        ref = nn.Linear(cin, cout)  # torch's default init
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone())

    def forward(self, x: torch.Tensor, sin: Selection) -> torch.Tensor:
        return F.linear(x, select(self.weight, 1, sin), self.bias)

    def to_static(self, sin: Selection) -> nn.Linear:
        w = select(self.weight, 1, sin)
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight.data.copy_(w.detach())
        lin.bias.data.copy_(self.bias.detach())
        return lin
