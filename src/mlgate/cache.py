"""The one cache: bounded, thread-safe, least-recently-used, with a time to live per value.

Built on ``cachetools.TLRUCache`` (which evicts expired entries first, then the least recently
used); this wrapper adds the lock (cachetools caches are not thread-safe), hit/miss counters
and copies on the way in and out, so a caller that adds keys to a result cannot change what the
next caller gets. Used for signature verification facts, fetched signature bundles and
model-card validation results.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import TLRUCache

V = TypeVar("V")


def _same(value: V) -> V:
    return value


class Cache(Generic[V]):
    def __init__(
        self,
        max_entries: int,
        ttl: Callable[[V], float] = lambda _value: math.inf,
        *,
        copy: Callable[[V], V] = _same,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``ttl(value)`` is how many seconds ``value`` stays; 0 or less: not stored at all."""
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._copy = copy
        self._entries: TLRUCache[Hashable, V] = TLRUCache(
            maxsize=max_entries, ttu=lambda _key, value, now: now + ttl(value), timer=clock
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self.hits += 1
            return self._copy(value)

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._entries[key] = self._copy(value)

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        # Two threads missing at once both compute: the computations cached here are
        # idempotent, and holding the lock across one would serialise the webhook.
        cached = self.get(key)
        if cached is not None:
            return cached
        value = compute()
        self.put(key, value)
        return self._copy(value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self), "hits": self.hits, "misses": self.misses}
