"""slimnas's own model zoo: torchvision's architectures written afresh, with torchvision's
module names and parameter shapes (a torchvision state_dict loads with strict=True), so a
user's model can be slimmed without torchvision. `get_model("zoo:resnet18", num_classes=10)`.
"""

from __future__ import annotations

import inspect

from torch import nn

from slimnas.errors import SlimnasError

# the model files register themselves on import
from slimnas.zoo import efficientnet, mobilenet, resnet, vgg  # noqa: F401
from slimnas.zoo.registry import ZOO

__all__ = ["ZOO", "get_model", "zoo_names"]

PREFIX = "zoo:"


def zoo_names() -> list[str]:
    """The registered zoo model names, sorted."""
    return ZOO.names()


def get_model(name: str, **kwargs) -> nn.Module:
    """A fresh (randomly initialised) zoo model; `name` with or without the "zoo:" prefix.
    Options: num_classes, in_channels (positive ints)."""
    key = name[len(PREFIX):] if isinstance(name, str) and name.startswith(PREFIX) else name
    factory = ZOO.get(key)
    known = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise SlimnasError(f"zoo model {key!r} has no option {unknown[0]!r}; "
                           f"options: {', '.join(sorted(known))}")
    for option, value in kwargs.items():
        # bool is an int subclass: refuse it explicitly
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SlimnasError(f"zoo model {key!r}: {option} must be a positive integer, "
                               f"got {value!r}")
    return factory(**kwargs)
