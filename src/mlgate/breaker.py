"""The one circuit breaker: thread-safe, for any remote dependency (DESIGN.md section 6).

closed     every call goes through; ``failure_threshold`` consecutive failures open it.
open       every call fails at once with ``BackendUnavailable`` (no request pile-up behind a
           dead or stuck server) until ``reset_timeout`` seconds have passed.
half-open  exactly one caller is let through as a probe; the others still fail fast. The probe's
           success closes the breaker, its failure opens it for another ``reset_timeout``.

The breaker never decides anything itself: a rejected call raises ``BackendUnavailable``, which
the engine turns into a fail-closed denial that carries the breaker's reason. Used for the OPA
server backend (one breaker) and for HTTPS signature stores (one breaker per host).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mlgate.errors import BackendUnavailable


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class Snapshot:
    """What ``/readyz`` and metrics report about a breaker."""

    name: str
    state: State
    consecutive_failures: int
    last_error: str
    retry_in_s: float
    opened_total: int


class CircuitBreaker:
    def __init__(
        self,
        name: str = "opa",
        *,
        failure_threshold: int = 3,
        reset_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout <= 0:
            raise ValueError("reset_timeout must be positive")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._last_error = ""
        self._opened_total = 0

    @property
    def state(self) -> State:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> State:
        # OPEN turns into HALF_OPEN lazily, when someone looks after the cool-down.
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            self._state = State.HALF_OPEN
            self._probe_in_flight = False
        return self._state

    def before_call(self) -> bool:
        """Admits a call or raises ``BackendUnavailable``. Returns True if the call is the probe.

        A caller that is admitted must report the outcome with ``record_success`` or
        ``record_failure`` (a probe that reports nothing would keep the breaker half-open
        with every other caller rejected).
        """
        with self._lock:
            state = self._current_state()
            if state is State.CLOSED:
                return False
            if state is State.HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            retry_in = max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
            detail = (
                f"retrying in {retry_in:.1f}s"
                if state is State.OPEN
                else "a recovery probe is in flight"
            )
            raise BackendUnavailable(
                f"circuit breaker '{self.name}' is {state.value} after {self._failures} consecutive "
                f"failures ({detail}); last error: {self._last_error or 'unknown'}",
                code=f"breaker.{state.name.lower()}",
            )

    def record_success(self) -> None:
        with self._lock:
            self._state = State.CLOSED
            self._failures = 0
            self._probe_in_flight = False

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self._failures += 1
            self._last_error = reason[:300]
            was_probe = self._state is State.HALF_OPEN
            self._probe_in_flight = False
            if was_probe or self._failures >= self.failure_threshold:
                if self._state is not State.OPEN:
                    self._opened_total += 1
                self._state = State.OPEN
                self._opened_at = self._clock()

    def snapshot(self) -> Snapshot:
        with self._lock:
            state = self._current_state()
            retry_in = (
                max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
                if state is State.OPEN
                else 0.0
            )
            return Snapshot(
                self.name, state, self._failures, self._last_error, retry_in, self._opened_total
            )
