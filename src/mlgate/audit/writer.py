"""One writer thread with group commit: many records per fsync, each acknowledged after it.

A request hands its record to ``submit`` and waits for the returned future; the future
resolves only once the transaction holding the record has committed (and, with
``synchronous=FULL``, reached the disk). While one batch is being fsynced the next requests
queue up and are committed together, so the log keeps up with the webhook at hundreds of
requests per second without giving up "nothing acknowledged is lost".
Retention runs in the same thread, between batches, so it never races an append.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from typing import Any

from mlgate.audit import replay_inputs
from mlgate.audit.store import AuditStore

log = logging.getLogger("mlgate.audit")

_STOP = object()


class AuditWriter:
    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: float | None = None,
        max_rows: int | None = None,
        prune_interval_s: float = 60.0,
        max_batch: int = 256,
        on_batch: Callable[[int, float], None] | None = None,
        input_retention_days: float | None = replay_inputs.DEFAULT_RETENTION_DAYS,
        input_max_rows: int | None = replay_inputs.DEFAULT_MAX_ROWS,
    ) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self.max_rows = max_rows
        self.prune_interval_s = prune_interval_s
        self.max_batch = max_batch
        self.input_retention_days = input_retention_days
        self.input_max_rows = input_max_rows
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Open (and create) in the caller's thread so a bad path fails at start-up, loudly.
        self._store = AuditStore(self.path)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="mlgate-audit-writer", daemon=True)
        self._thread.start()

    def submit(self, payload: dict[str, Any]) -> Future[int]:
        """Queues one record; the future gives its sequence number once committed."""
        future: Future[int] = Future()
        if self._closed:
            future.set_exception(RuntimeError("audit writer is closed"))
            return future
        self._queue.put((payload, future))
        return future

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _prune(self) -> None:
        try:  # replay inputs always have a bound, whatever the records' retention
            self._store.prune_inputs(
                retention_days=self.input_retention_days, max_rows=self.input_max_rows
            )
        except Exception:
            log.exception("audit input retention failed")
        if self.retention_days is None and self.max_rows is None:
            return
        try:
            deleted = self._store.prune(retention_days=self.retention_days, max_rows=self.max_rows)
            if deleted:
                log.info("audit retention deleted %d records", deleted)
        except Exception:
            log.exception("audit retention failed")

    def _run(self) -> None:
        next_prune = time.monotonic()
        stopping = False
        while not stopping:
            wait = next_prune - time.monotonic()
            if wait <= 0:
                self._prune()
                next_prune = time.monotonic() + self.prune_interval_s
                continue
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                continue
            batch = []
            if item is _STOP:
                stopping = True
            else:
                batch.append(item)
            # Group commit: take whatever else is already waiting.
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    continue
                batch.append(more)
            if batch:
                self._commit(batch)
        self._store.close()

    def _commit(self, batch: list[tuple[dict[str, Any], Future[int]]]) -> None:
        started = time.perf_counter()
        try:
            seqs = self._store.append([payload for payload, _ in batch])
        except Exception as err:
            log.error("audit append of %d records failed: %s", len(batch), err)
            if len(batch) > 1:
                # One record may be the cause: it must not take the others' commits with it.
                for item in batch:
                    self._commit([item])
                return
            for _, future in batch:
                if not future.cancelled():
                    with contextlib.suppress(InvalidStateError):
                        future.set_exception(err)
            return
        for (_, future), seq in zip(batch, seqs, strict=True):
            # A caller that stopped waiting may have cancelled its future; the record is
            # committed all the same, and this thread must not die over it.
            if not future.cancelled():
                with contextlib.suppress(InvalidStateError):
                    future.set_result(seq)
        if self._on_batch is not None:
            self._on_batch(len(batch), time.perf_counter() - started)
