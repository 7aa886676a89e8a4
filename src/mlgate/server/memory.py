"""Giving memory back after a burst.

CPython frees objects into glibc's malloc arenas, and glibc keeps freed pages mapped: after a
burst of large requests the process stays at its peak size. ``malloc_trim(0)`` returns the
free pages of every arena to the OS. It is called when the evaluation threads go idle,
at most once a second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Callable

_MIN_INTERVAL_S = 1.0


def _load_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


class MemoryReleaser:
    def __init__(
        self,
        min_interval_s: float = _MIN_INTERVAL_S,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        # observe(seconds): how long each release took (a metric); the collection holds
        # the GIL and malloc_trim holds malloc's arena locks, so a slow one stalls requests.
        self._observe = observe
        self._trim = _load_trim()
        self._min_interval_s = min_interval_s
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < self._min_interval_s or not self._lock.acquire(blocking=False):
            return
        try:
            self._last = now
            started = time.perf_counter()
            gc.collect()
            if self._trim is not None:
                self._trim(0)
            if self._observe is not None:
                self._observe(time.perf_counter() - started)
        finally:
            self._lock.release()
