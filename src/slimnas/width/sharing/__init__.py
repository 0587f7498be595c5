"""Registry of weight-sharing rules: `get_rule("bcnetv2")`."""

from __future__ import annotations

import inspect

from slimnas.errors import SlimnasError

_RULES: dict[str, type] = {}


def register(cls: type) -> type:
    _RULES[cls.name] = cls
    return cls


def rule_names() -> list[str]:
    _load_builtins()
    return sorted(_RULES)


def rule_options(name: str) -> dict:
    """The options a rule takes, with their defaults (ua, bcnet, bcnetv2: none)."""
    _load_builtins()
    if not isinstance(name, str) or name not in _RULES:
        raise SlimnasError(f"unknown rule {name!r}; known: {', '.join(sorted(_RULES))}")
    params = inspect.signature(_RULES[name].__init__).parameters.values()
    return {p.name: p.default for p in params if p.name != "self"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def get_rule(name: str, **options):
    """A rule by name; an unknown name or option, or a bad value, raises SlimnasError."""
    known = rule_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SlimnasError(f"rule {name!r} has no option {unknown[0]!r}; options: "
                           f"{', '.join(sorted(known)) or 'none'}")
    try:
        return _RULES[name](**options)
    except TypeError as e:
        raise SlimnasError(f"rule {name!r}: {e}") from None


def _load_builtins() -> None:
    from slimnas.width.sharing import bcnet, bcnetv2, cafenet, ua  # noqa: F401
