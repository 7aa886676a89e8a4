"""Evaluation threads behind a bounded, fair queue.

One client (the requesting user) must not be able to delay or flip another client's
decision by sending heavy requests. So:

- the queue is bounded, in total and per client: past either bound a request is refused at
  once (the webhook denies it) instead of waiting behind work it cannot overtake;
- clients are served round-robin, not first-come-first-served;
- no client holds more than ``workers - 1`` threads, so one is always free for the others;
- a task whose future was cancelled (its request passed the deadline) is dropped unrun.

When the last task finishes and nothing waits, ``on_idle`` runs (the webhook returns freed
memory to the OS there, so a burst does not leave the process at its peak size).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("mlgate.scheduler")


class QueueFull(Exception):
    """The request cannot be queued: ``bound`` says which bound it hit, for programs
    (``closed``, ``queue``, ``per_client``); the message says it for people."""

    def __init__(self, message: str, bound: str) -> None:
        super().__init__(message)
        self.bound = bound


@dataclass
class _Task:
    client: str
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]


class FairScheduler:
    def __init__(
        self,
        workers: int,
        *,
        max_queue: int = 64,
        max_per_client: int = 16,
        name: str = "mlgate-eval",
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        if workers < 1 or max_queue < 1 or max_per_client < 1:
            raise ValueError("workers, max_queue and max_per_client must be at least 1")
        self.workers = workers
        self.max_queue = max_queue
        self.max_per_client = max_per_client
        self.per_client_threads = max(1, workers - 1)
        self._on_idle = on_idle
        self._cond = threading.Condition()
        self._queues: OrderedDict[str, deque[_Task]] = OrderedDict()
        self._running: dict[str, int] = {}
        self._queued = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def queued(self) -> int:
        with self._cond:
            return self._queued

    @property
    def running(self) -> int:
        with self._cond:
            return sum(self._running.values())

    def submit(self, client: str, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queues ``fn(*args)`` for ``client``; QueueFull when a bound is reached."""
        future: Future[Any] = Future()
        with self._cond:
            if self._closed:
                raise QueueFull("the evaluation threads are shutting down", "closed")
            queue = self._queues.get(client)
            if queue is not None:
                self._drop_cancelled(queue)
            if self._queued >= self.max_queue:
                raise QueueFull(
                    f"the evaluation queue is full ({self.max_queue} requests waiting)", "queue"
                )
            if queue is not None and len(queue) >= self.max_per_client:
                raise QueueFull(
                    f"this user already has {len(queue)} requests waiting "
                    f"(at most {self.max_per_client})",
                    "per_client",
                )
            if queue is None:
                queue = self._queues[client] = deque()
            queue.append(_Task(client, future, fn, args))
            self._queued += 1
            self._cond.notify()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for queue in self._queues.values():
                for task in queue:
                    task.future.cancel()
            self._queues.clear()
            self._queued = 0
            self._cond.notify_all()

    # -- workers ---------------------------------------------------------------------------

    def _drop_cancelled(self, queue: deque[_Task]) -> None:
        kept = [task for task in queue if not task.future.cancelled()]
        self._queued -= len(queue) - len(kept)
        queue.clear()
        queue.extend(kept)

    def _pick(self) -> _Task | None:
        """The next task, round-robin over clients below their thread share (lock held)."""
        for client in list(self._queues):
            queue = self._queues[client]
            self._drop_cancelled(queue)
            if not queue:
                del self._queues[client]
                continue
            if self._running.get(client, 0) >= self.per_client_threads:
                continue
            task = queue.popleft()
            self._queued -= 1
            if queue:
                self._queues.move_to_end(client)
            else:
                del self._queues[client]
            return task
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                task = self._pick()
                while task is None:
                    if self._closed:
                        return
                    self._cond.wait()
                    task = self._pick()
                self._running[task.client] = self._running.get(task.client, 0) + 1
            try:
                if task.future.set_running_or_notify_cancel():
                    try:
                        task.future.set_result(task.fn(*task.args))
                    except BaseException as err:
                        task.future.set_exception(err)
            finally:
                with self._cond:
                    left = self._running[task.client] - 1
                    if left:
                        self._running[task.client] = left
                    else:
                        del self._running[task.client]
                    idle = not self._running and not self._queued
                    # A finished task can unblock a queued one (its client had its share of
                    # threads); with nothing queued there is nothing to wake a worker for,
                    # and waking all of them costs each a GIL round trip per request.
                    if self._queued:
                        self._cond.notify_all()
            del task
            if idle and self._on_idle is not None:
                try:
                    self._on_idle()
                except Exception:  # housekeeping must never cost an evaluation thread
                    log.exception("idle callback failed")
