"""A user's model named in a config: `zoo:NAME` or `package.module:factory`.

The factory is called with `num_classes` and `in_channels` keywords (plus the config's
`model_options.kwargs`); the module is imported from the current directory or PYTHONPATH.
Only the caller's config names code to run: checkpoints and arch.json record the name and
are checked against it, never imported from by themselves.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from torch import nn

from slimnas.errors import SlimnasError
from slimnas.io import load_state_file


def load_model(name: str, num_classes: int, in_channels: int, kwargs: dict | None = None,
               init_weights: str | None = None) -> nn.Module:
    """A fresh instance of the model `name`, with `init_weights` (a state_dict file) loaded."""
    kwargs = {"num_classes": num_classes, "in_channels": in_channels, **(kwargs or {})}
    if name.startswith("zoo:"):
        from slimnas.zoo import get_model

        model = get_model(name, **kwargs)
    else:
        model = _call(_factory(name), name, kwargs)
    if init_weights:
        _load_weights(model, init_weights)
    return model


def _factory(name: str):
    module, _, attr = name.partition(":")
    if not module or not attr or not all(p.isidentifier() for p in module.split(".")):
        raise SlimnasError(f"model {name!r}: expected zoo:NAME or package.module:factory")
    here = os.getcwd()
    added = here not in sys.path
    if added:  # the user's own package, beside where they run slimnas
        sys.path.insert(0, here)
    try:
        mod = importlib.import_module(module)
    except Exception as e:
        raise SlimnasError(f"model {name!r}: cannot import {module}: {type(e).__name__}: "
                           f"{' '.join(str(e).split())[:200]}") from None
    finally:
        if added:
            sys.path.remove(here)
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise SlimnasError(f"model {name!r}: {module} has no callable {attr!r}")
    return factory


def _call(factory, name: str, kwargs: dict) -> nn.Module:
    try:
        model = factory(**kwargs)
    except Exception as e:
        raise SlimnasError(f"model {name!r}: the factory failed with {sorted(kwargs)}: "
                           f"{type(e).__name__}: {' '.join(str(e).split())[:200]}") from None
    if not isinstance(model, nn.Module):
        raise SlimnasError(f"model {name!r}: the factory returned {type(model).__name__}, "
                           "not an nn.Module")
    return model


def _load_weights(model: nn.Module, path: str) -> None:
    if not Path(path).is_file():
        raise SlimnasError(f"model_options.init_weights: no such file: {path}")
    load_state_file(model, path, "fit the model")
