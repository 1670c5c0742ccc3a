"""A dict that forgets its oldest entries beyond a limit: the per-worker lookup caches (API keys,
tokens, rendered ledger entries) must not grow with whatever random values callers send."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class BoundedDict(Generic[V]):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: dict[Hashable, V] = {}

    def put(self, key: Hashable, value: V) -> None:
        entries = self.entries
        entries.pop(key, None)
        while len(entries) >= self.limit:
            del entries[next(iter(entries))]  # insertion order: the oldest goes first
        entries[key] = value

    def built(self, key: Hashable, build: Callable[[Any], V]) -> V:
        """The value kept under ``key``, else ``build(key)``'s, kept from now on: for caches keyed by
        everything the value is made from, so a kept one is never stale. Values are never None."""
        value = self.entries.get(key)
        if value is None:
            value = build(key)
            self.put(key, value)
        return value
