"""What `arch.json` records of a slimmed user's model, and a fresh instance resized to it."""

from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

from slimnas.errors import SlimnasError
from slimnas.width.own.trace import TracedSpec


def layer_sizes(net: nn.Module, spec: TracedSpec) -> dict[str, list[int]]:
    """{layer name: [input channels, output channels]} of every traced layer of `net`."""
    out = {}
    for layer in spec.layers:
        m = net.get_submodule(layer.name)
        if isinstance(m, nn.BatchNorm2d):
            out[layer.name] = [m.num_features, m.num_features]
        elif isinstance(m, nn.Linear):
            out[layer.name] = [m.in_features, m.out_features]
        else:
            out[layer.name] = [m.in_channels, m.out_channels]
    return out


def resize_layers(model: nn.Module, sizes: object, arch_file: Path) -> nn.Module:
    """A copy of `model` whose layers have the recorded sizes (weights: load them next)."""
    if not isinstance(sizes, dict):
        raise SlimnasError(f"{arch_file}: 'layers' must be an object")
    net = copy.deepcopy(model)
    names = dict(net.named_modules())
    for name, size in sizes.items():
        m = names.get(name)
        if not isinstance(m, nn.Conv2d | nn.BatchNorm2d | nn.Linear):
            raise SlimnasError(f"{arch_file}: the model has no conv, BN or Linear {name!r}; "
                               "is it the model that was slimmed?")
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(v, int) and v >= 1 for v in size)):
            raise SlimnasError(f"{arch_file}: layer {name!r} needs [in, out] channel counts")
        net.set_submodule(name, _resized(m, *size))
    return net


def _resized(m: nn.Module, cin: int, cout: int) -> nn.Module:
    if isinstance(m, nn.BatchNorm2d):
        return nn.BatchNorm2d(cout, m.eps, m.momentum)
    if isinstance(m, nn.Linear):
        return nn.Linear(cin, cout, bias=m.bias is not None)
    depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
    groups = cout if depthwise else m.groups
    return nn.Conv2d(cin, cout, m.kernel_size, m.stride, m.padding, m.dilation, groups,
                     m.bias is not None)
