"""The registry each family file adds its builder to; the package imports every family."""

from __future__ import annotations

from collections.abc import Callable

from slimnas.registry import Registry
from slimnas.width.spec import NetSpec

FAMILIES: Registry[Callable[..., NetSpec]] = Registry("space")
register = FAMILIES.register
