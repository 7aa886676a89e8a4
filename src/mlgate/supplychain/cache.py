"""The verification cache: signature facts (and fetched bundles) in :class:`mlgate.cache.Cache`.

Keys are ``(bundle sha256, declared digest, trust revision, scope, purpose)``: everything the
result depends on, so a changed trust policy or a different namespace can never reuse a stale
answer. Successes live long (verification of the same bundle is deterministic); failures live
briefly so that a fixed store or trust policy takes effect quickly, while a burst of identical
bad requests still costs one verification.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mlgate.cache import Cache

DEFAULT_MAX_ENTRIES = 4096
DEFAULT_SUCCESS_TTL = 600.0
DEFAULT_FAILURE_TTL = 10.0


def is_success(facts: dict[str, Any]) -> bool:
    return facts.get("error") is None


class VerificationCache(Cache[dict[str, Any]]):
    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        success_ttl: float = DEFAULT_SUCCESS_TTL,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.success_ttl = success_ttl
        self.failure_ttl = failure_ttl
        super().__init__(
            max_entries,
            lambda facts: success_ttl if is_success(facts) else failure_ttl,
            copy=dict,
            clock=clock,
        )
