"""Registry of weight-sharing rules: `get_rule("bcnetv2")`."""

from __future__ import annotations

from slimnas.errors import SlimnasError

_RULES: dict[str, type] = {}


def register(cls: type) -> type:
    _RULES[cls.name] = cls
    return cls


def rule_names() -> list[str]:
    _load_builtins()
    return sorted(_RULES)


def get_rule(name: str, **options):
    _load_builtins()
    if name not in _RULES:
        raise SlimnasError(f"unknown rule {name!r}; known: {', '.join(sorted(_RULES))}")
    try:
        return _RULES[name](**options)
    except TypeError as e:
        raise SlimnasError(f"rule {name!r}: {e}") from None


def _load_builtins() -> None:
    from slimnas.width.sharing import bcnet, bcnetv2, cafenet, ua  # noqa: F401
