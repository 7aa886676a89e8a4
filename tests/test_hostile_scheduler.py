"""The fair scheduler: bounded queue, round-robin between users, a thread always left for
other users, cancelled work dropped unrun."""

from __future__ import annotations

import threading
import time

import pytest

from mlgate.server.scheduler import FairScheduler, QueueFull


@pytest.fixture
def scheduler():
    made: list[FairScheduler] = []

    def make(workers: int = 2, **kw: int) -> FairScheduler:
        s = FairScheduler(workers, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_a_heavy_user_never_holds_every_thread(scheduler) -> None:
    s = scheduler(workers=3, max_queue=100, max_per_client=100)
    gate = threading.Event()
    heavy = [s.submit("heavy", gate.wait, 5) for _ in range(10)]
    time.sleep(0.2)
    assert s.running == 2  # workers - 1
    started = time.monotonic()
    assert s.submit("light", lambda: "done").result(timeout=2) == "done"
    assert time.monotonic() - started < 0.5
    gate.set()
    assert all(f.result(timeout=5) for f in heavy)


def test_users_are_served_round_robin(scheduler) -> None:
    s = scheduler(workers=2, max_queue=100, max_per_client=100)
    gate = threading.Event()
    order: list[str] = []
    blocker = s.submit("blocker", gate.wait, 5)  # holds one of the two threads
    time.sleep(0.1)
    futures = [s.submit("a", order.append, f"a{i}") for i in range(3)]
    futures += [s.submit("b", order.append, f"b{i}") for i in range(3)]
    gate.set()
    for f in [blocker, *futures]:
        f.result(timeout=5)
    # One worker drains both queues alternately, not all of a's first.
    assert order.index("b0") < order.index("a2")


def test_queue_bounds_refuse_at_once(scheduler) -> None:
    s = scheduler(workers=1, max_queue=3, max_per_client=2)
    gate = threading.Event()
    s.submit("a", gate.wait, 5)
    time.sleep(0.1)
    s.submit("a", gate.wait, 5)
    s.submit("a", gate.wait, 5)
    with pytest.raises(QueueFull) as info:
        s.submit("a", gate.wait, 5)
    assert info.value.bound == "per_client"
    s.submit("b", gate.wait, 5)
    with pytest.raises(QueueFull) as info:
        s.submit("c", gate.wait, 5)
    assert info.value.bound == "queue"
    gate.set()


def test_cancelled_work_is_dropped_unrun(scheduler) -> None:
    s = scheduler(workers=1, max_queue=10, max_per_client=10)
    gate = threading.Event()
    ran: list[int] = []
    s.submit("a", gate.wait, 5)
    time.sleep(0.1)
    queued = [s.submit("a", ran.append, i) for i in range(5)]
    for f in queued[:4]:
        assert f.cancel()
    assert s.queued == 5  # still counted until picked or until the user submits again
    gate.set()
    queued[4].result(timeout=5)
    assert ran == [4] and s.queued == 0


def test_idle_callback_runs_when_the_work_is_done(scheduler) -> None:
    idle = threading.Event()
    s = FairScheduler(2, on_idle=idle.set)
    try:
        s.submit("a", time.sleep, 0.05).result(timeout=5)
        assert idle.wait(2)
    finally:
        s.close()


def test_a_failing_idle_callback_costs_no_evaluation_thread() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("metrics backend gone")

    s = FairScheduler(1, on_idle=broken)
    try:
        for _ in range(3):  # one thread: each task needs it alive after the last callback
            assert s.submit("a", lambda: 42).result(timeout=5) == 42
            deadline = time.monotonic() + 2
            while len(calls) < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert calls
    finally:
        s.close()
