"""The user's Conv2d / BatchNorm2d / Linear, swapped in place for layers that compute on
the channels their groups have active, so the model's own `forward` runs unchanged.

Each slim layer keeps the original's weights and settings (stride, padding, dilation,
bias, eps, momentum) and reads `self.sel = (input selection, output selection)`, set by
the supernet before every forward. `to_static` freezes the selection into a plain layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slimnas.width.dynamic import DynamicBatchNorm2d, Selection, select

_ALL = slice(None)


class SlimConv2d(nn.Module):
    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.padding_mode != "zeros":
            raise ValueError(f"padding_mode {conv.padding_mode!r} is not supported")
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.depthwise = conv.groups > 1
        self.weight = nn.Parameter(conv.weight.detach().clone())
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())
        self.sel: tuple[Selection, Selection] = (None, None)

    def _weights(self, sin: Selection, sout: Selection):
        if self.depthwise:
            w = select(self.weight, 0, sout)
        else:
            w = _both(self.weight, sin, sout)
        return w, None if self.bias is None else select(self.bias, 0, sout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self._weights(*self.sel)
        groups = w.shape[0] if self.depthwise else 1
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, groups)

    def to_static(self, sin: Selection, sout: Selection) -> nn.Conv2d:
        w, b = self._weights(sin, sout)
        cin = w.shape[0] if self.depthwise else w.shape[1]
        conv = nn.Conv2d(cin, w.shape[0], tuple(w.shape[2:]), self.stride, self.padding,
                         self.dilation, w.shape[0] if self.depthwise else 1, b is not None)
        conv.weight.data.copy_(w.detach())
        if b is not None:
            conv.bias.data.copy_(b.detach())
        return conv


class SlimBatchNorm2d(DynamicBatchNorm2d):
    def __init__(self, bn: nn.BatchNorm2d):
        if not (bn.affine and bn.track_running_stats):
            raise ValueError("a BatchNorm2d without affine parameters or running statistics "
                             "is not supported")
        super().__init__(bn.num_features, bn.eps, bn.momentum)
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                getattr(self, name).copy_(getattr(bn, name))
        self.sel: tuple[Selection, Selection] = (None, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, self.sel[1])


class SlimLinear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())
        self.sel: tuple[Selection, Selection] = (None, None)

    def _weights(self, sin: Selection, sout: Selection):
        return _both(self.weight, sin, sout), None if self.bias is None else \
            select(self.bias, 0, sout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, *self._weights(*self.sel))

    def to_static(self, sin: Selection, sout: Selection) -> nn.Linear:
        w, b = self._weights(sin, sout)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        lin.weight.data.copy_(w.detach())
        if b is not None:
            lin.bias.data.copy_(b.detach())
        return lin


def _both(weight: torch.Tensor, sin: Selection, sout: Selection) -> torch.Tensor:
    """weight[sout, sin]: one view op when both are slices (one cheap node to back-prop)."""
    if isinstance(sin, slice | None) and isinstance(sout, slice | None):
        return weight[sout or _ALL, sin or _ALL]
    return select(select(weight, 0, sout), 1, sin)


def slim_layer(module: nn.Module) -> nn.Module:
    """The slim counterpart of a Conv2d / BatchNorm2d / Linear."""
    if isinstance(module, nn.Conv2d):
        return SlimConv2d(module)
    if isinstance(module, nn.BatchNorm2d):
        return SlimBatchNorm2d(module)
    if isinstance(module, nn.Linear):
        return SlimLinear(module)
    raise TypeError(f"no slim layer for {type(module).__name__}")
