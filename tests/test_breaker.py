"""The circuit breaker on its own, with a fake clock: closed -> open -> half-open -> closed."""

from __future__ import annotations

import threading

import pytest

from error_codes import raises_code
from mlgate.breaker import CircuitBreaker, State
from mlgate.errors import BackendUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_rejects_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", failure_threshold=3, reset_timeout=5, clock=clock)
    for _ in range(2):
        assert breaker.before_call() is False
        breaker.record_failure("connection refused")
    assert breaker.state is State.CLOSED
    breaker.before_call()
    breaker.record_failure("connection refused")
    assert breaker.state is State.OPEN
    with raises_code(BackendUnavailable, "breaker.open"):
        breaker.before_call()
    snap = breaker.snapshot()
    assert (snap.consecutive_failures, snap.last_error) == (3, "connection refused")


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker("t", failure_threshold=2, reset_timeout=5, clock=Clock())
    breaker.before_call()
    breaker.record_failure("x")
    breaker.before_call()
    breaker.record_success()
    breaker.before_call()
    breaker.record_failure("x")
    assert breaker.state is State.CLOSED


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", failure_threshold=1, reset_timeout=5, clock=clock)
    breaker.before_call()
    breaker.record_failure("down")
    clock.now += 5
    assert breaker.state is State.HALF_OPEN
    assert breaker.before_call() is True  # the probe
    with raises_code(BackendUnavailable, "breaker.half_open"):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state is State.CLOSED
    assert breaker.before_call() is False


def test_a_failed_probe_opens_again_for_a_full_cool_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", failure_threshold=1, reset_timeout=5, clock=clock)
    breaker.before_call()
    breaker.record_failure("down")
    clock.now += 6
    assert breaker.before_call() is True
    breaker.record_failure("still down")
    assert breaker.state is State.OPEN
    clock.now += 4
    with raises_code(BackendUnavailable, "breaker.open"):
        breaker.before_call()
    snap = breaker.snapshot()
    assert snap.last_error == "still down"
    assert snap.opened_total == 2 and 0 < snap.retry_in_s <= 1


def test_only_one_thread_probes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("t", failure_threshold=1, reset_timeout=1, clock=clock)
    breaker.before_call()
    breaker.record_failure("down")
    clock.now += 2
    admitted: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            probe = breaker.before_call()
        except BackendUnavailable:
            return
        with lock:
            admitted.append(probe)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted == [True]


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker(reset_timeout=0)
