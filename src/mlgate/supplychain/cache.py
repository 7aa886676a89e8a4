"""A bounded, thread-safe LRU cache with TTLs, for verification results.

Keys are ``(bundle sha256, declared digest, trust revision, scope, purpose)``: everything the
result depends on, so a changed trust policy or a different namespace can never reuse a stale
answer. Successes live long (verification of the same bundle is deterministic); failures live
briefly so that a fixed store or trust policy takes effect quickly, while a burst of identical
bad requests still costs one verification.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

DEFAULT_MAX_ENTRIES = 4096
DEFAULT_SUCCESS_TTL = 600.0
DEFAULT_FAILURE_TTL = 10.0


def is_success(facts: dict[str, Any]) -> bool:
    return facts.get("error") is None


class VerificationCache:
    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        success_ttl: float = DEFAULT_SUCCESS_TTL,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.success_ttl = success_ttl
        self.failure_ttl = failure_ttl
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> dict[str, Any] | None:
        """A copy of the cached facts (callers may add keys), or None."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= now:
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return dict(entry[1])

    def put(self, key: Hashable, facts: dict[str, Any]) -> None:
        ttl = self.success_ttl if is_success(facts) else self.failure_ttl
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl, dict(facts))
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_compute(
        self, key: Hashable, compute: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        # Two threads missing at once both compute: verification is idempotent, and holding
        # the lock across a verification would serialise the webhook.
        cached = self.get(key)
        if cached is not None:
            return cached
        facts = compute()
        self.put(key, facts)
        return dict(facts)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses}
