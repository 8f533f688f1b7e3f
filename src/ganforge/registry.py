"""Name -> builder registries filled by decorators (models, losses, datasets).

The command line takes its choices from these registries, so a typo fails at parse time
with the list of valid names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import GanforgeError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name.lower() in (n.lower() for n in self._entries):
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, obj, meta)
            return obj

        return decorator

    def names(self) -> list[str]:
        return list(self._entries)

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name`` (matched case-insensitively)."""
        for registered in self._entries:
            if registered.lower() == str(name).lower():
                return registered
        raise GanforgeError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")

    def entry(self, name: str) -> Entry[T]:
        return self._entries[self.canonical(name)]

    def __getitem__(self, name: str) -> T:
        return self.entry(name).obj

    def __contains__(self, name: object) -> bool:
        return any(str(name).lower() == n.lower() for n in self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
