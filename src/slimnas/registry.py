"""One registry helper for every named family of things (spaces, sharing rules, searchers,
datasets, benchmark spaces): add by decorator, look up with a one-line error, list the
names (the CLI's choices come from here, never restated)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from slimnas.errors import SlimnasError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one `kind` ("space", "rule", ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator adding an entry under `name` (default: the entry's `name` attribute)."""
        def add(entry: T) -> T:
            key = name if name is not None else getattr(entry, "name", None)
            if not isinstance(key, str) or not key:
                raise ValueError(f"a {self.kind} needs a non-empty string name, got {key!r}")
            if self._entries.get(key, entry) is not entry:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._entries[key] = entry
            return entry
        return add

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that plug in a toy entry clean up with this)."""
        self._entries.pop(name, None)

    @contextmanager
    def registered(self, entry: T, name: str | None = None) -> Iterator[T]:
        """`entry` registered for the `with` block only (a test's toy entry)."""
        self.register(name)(entry)
        try:
            yield entry
        finally:
            self.unregister(name if name is not None else entry.name)

    def get(self, name: object) -> T:
        """The entry `name`; an unknown name is one line listing the known ones."""
        if not isinstance(name, str) or name not in self._entries:
            raise SlimnasError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
