"""The zoo's registry: model files add their factories with `@ZOO.register("name")`."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from slimnas.registry import Registry

ZOO: Registry[Callable[..., nn.Module]] = Registry("zoo model")
