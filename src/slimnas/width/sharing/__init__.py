"""Registry of weight-sharing rules: `get_rule("bcnetv2")`.

A new rule is one file: a `SharingRule` subclass decorated with `@register` (from
`base`); built-in rules are imported below, a plug-in rule by whoever defines it.
"""

from __future__ import annotations

import inspect

from slimnas.errors import SlimnasError
from slimnas.width.sharing import bcnet, bcnetv2, cafenet, ua  # noqa: F401  (they register)
from slimnas.width.sharing.base import RULES, CandidateJudge, SharingRule, register

__all__ = ["RULES", "CandidateJudge", "SharingRule", "get_rule", "register", "rule_names",
           "rule_options"]


def rule_names() -> list[str]:
    return RULES.names()


def rule_options(name: str) -> dict:
    """The options a rule takes, with their defaults (ua, bcnet, bcnetv2: none)."""
    params = inspect.signature(RULES.get(name).__init__).parameters.values()
    return {p.name: p.default for p in params if p.name != "self"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def get_rule(name: str, **options) -> SharingRule:
    """A rule by name; an unknown name or option, or a bad value, raises SlimnasError."""
    known = rule_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SlimnasError(f"rule {name!r} has no option {unknown[0]!r}; options: "
                           f"{', '.join(sorted(known)) or 'none'}")
    try:
        return RULES.get(name)(**options)
    except TypeError as e:
        raise SlimnasError(f"rule {name!r}: {e}") from None
