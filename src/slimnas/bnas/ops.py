"""The DARTS primitives and the small blocks cells are made of.

Every op keeps the channel count and maps an H x W input to ceil(H / stride) x ceil(W /
stride), odd sizes included, so an 8 x 8 digit can go through two reductions.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

from slimnas.bnas.genotype import PARAMETER_FREE, PRIMITIVES

__all__ = ["PARAMETER_FREE", "PRIMITIVES", "make_op", "shared_relu"]

_RELU_CACHE: ContextVar[dict | None] = ContextVar("slimnas_relu_cache", default=None)


@contextmanager
def shared_relu() -> Iterator[None]:
    """Within this block every `ReLU` module computes relu(x) once per input tensor.

    A search cell applies a ReLU to the same tensor many times: each of the four conv
    primitives of every edge leaving a state, and the adapters of the cells and side paths
    reading the same cell output. Each copy is kept for backward. Sharing one output is
    the same function and the same gradients (summed before the mask instead of after),
    and keeps one copy instead of up to 16 per state. Inputs are held weakly, so the cache
    keeps nothing alive that autograd does not keep already.
    """
    token = _RELU_CACHE.set({})
    try:
        yield
    finally:
        _RELU_CACHE.reset(token)


class ReLU(nn.ReLU):
    """nn.ReLU that shares its output inside `shared_relu()` (same state_dict, no params)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cache = _RELU_CACHE.get()
        if cache is None or self.inplace:
            return super().forward(x)
        hit = cache.get(id(x))
        if hit is not None and hit[0]() is x:
            return hit[1]
        out = F.relu(x)
        cache[id(x)] = (weakref.ref(x), out)
        return out


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = True):
        super().__init__(
            ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise (dilated) conv, pointwise conv, BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int, affine: bool = True):
        super().__init__(
            ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked separable convolutions; only the first one strides."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine),
        )


class Zero(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs on offset grids, concat, BN.

    At odd sizes the offset grid reads a zero-padded copy, so they give ceil(H / 2) like
    the other ops; at even sizes the padding would never be read, so the offset conv reads a
    view of the input instead (identical to DARTS, and no padded copy kept for backward).
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even c_out, got {c_out}")
        self.relu = ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        odd = x.shape[-2] % 2 or x.shape[-1] % 2
        shifted = (F.pad(x, (0, 1, 0, 1)) if odd else x)[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def make_op(name: str, channels: int, stride: int, affine: bool) -> nn.Module:
    """One primitive by name. Pooling is followed by a non-affine BN only in the search
    network (`affine=False`), as in DARTS' MixedOp."""
    c = channels
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (nn.MaxPool2d(3, stride, padding=1) if name == "max_pool_3x3"
                else nn.AvgPool2d(3, stride, padding=1, count_include_pad=False))
        return pool if affine else nn.Sequential(pool, nn.BatchNorm2d(c, affine=False))
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2, affine)
    raise KeyError(name)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def shuffle_concat(mixed: torch.Tensor, rest: torch.Tensor, groups: int) -> torch.Tensor:
    """channel_shuffle(cat([mixed, rest]), groups), written once: one copy, not two, and a
    backward of views only. `mixed` is one group, `rest` the other groups - 1."""
    b, c, h, w = mixed.shape
    rest = rest.view(b, groups - 1, c, h, w).transpose(1, 2)
    return torch.cat([mixed.unsqueeze(2), rest], dim=2).view(b, groups * c, h, w)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability `drop_prob`, rescale the rest (global RNG)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


def preprocess(c_in: int, c_out: int, reduce: bool, affine: bool,
               identity_ok: bool = False) -> nn.Module:
    """A cell's input adapter: factorized reduction, 1x1 ReLU-conv-BN, or nothing."""
    if reduce:
        return FactorizedReduce(c_in, c_out, affine)
    if identity_ok and c_in == c_out:
        return nn.Identity()
    return ReLUConvBN(c_in, c_out, 1, 1, 0, affine)


def side_path(c_in: int, c_out: int, reductions: int, affine: bool) -> nn.Sequential:
    """A broad side path: ReLU-conv1x1-BN, then `reductions` factorized reductions."""
    layers: list[nn.Module] = [ReLUConvBN(c_in, c_out, 1, 1, 0, affine)]
    layers += [FactorizedReduce(c_out, c_out, affine) for _ in range(reductions)]
    return nn.Sequential(*layers)
