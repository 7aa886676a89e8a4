"""One writer thread with group commit: many records per fsync, each acknowledged after it.

A request hands its record to ``submit`` and waits for the returned future; the future
resolves only once the transaction holding the record has committed (and, with
``synchronous=FULL``, reached the disk). While one batch is being fsynced the next requests
queue up and are committed together, so the log keeps up with the webhook at hundreds of
requests per second without giving up "nothing acknowledged is lost".
Retention runs in the same thread, between batches, so it never races an append.

Replay inputs (``submit(inputs=...)``) are masked and stored *after* their decision is
committed and acknowledged, by a second thread with its own connection: masking and
serialising a canonical input costs 0.3-0.6 ms, which no request should wait for, and
a decision is never held back by its input. The queue of inputs to mask is bounded
(``max_pending_inputs``): past it, inputs are dropped and counted (``inputs_dropped``), and
`mlgate impact` reports those decisions as ``no-stored-input``. The decisions themselves
are never dropped.
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
from mlgate.audit.masking import Masker
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
        input_masker: Masker | None = None,
        max_pending_inputs: int = 4096,
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
        self._masker = input_masker or Masker("hash")
        self.max_pending_inputs = max_pending_inputs
        self.inputs_dropped = 0
        self._inputs: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="mlgate-audit-writer", daemon=True)
        self._inputs_thread = threading.Thread(
            target=self._run_inputs, name="mlgate-audit-inputs", daemon=True
        )
        self._thread.start()
        self._inputs_thread.start()

    def submit(
        self, payload: dict[str, Any], *, inputs: list[dict[str, Any]] | None = None
    ) -> Future[int]:
        """Queues one record; the future gives its sequence number once committed.

        ``inputs``: the canonical inputs of the decision, masked and stored for replay after
        the record is committed (not part of what the future waits for)."""
        future: Future[int] = Future()
        if self._closed:
            future.set_exception(RuntimeError("audit writer is closed"))
            return future
        self._queue.put((payload, future, inputs))
        return future

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._inputs.put(_STOP)  # after the writer: the last batch's inputs are queued
        self._inputs_thread.join(timeout)

    def flush_inputs(self, timeout: float = 10.0) -> bool:
        """Waits until every queued input is stored (tests, drills); False on timeout."""
        done = threading.Event()
        self._inputs.put(done)
        return done.wait(timeout)

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

    def _commit(self, batch: list[tuple[dict[str, Any], Future[int], Any]]) -> None:
        started = time.perf_counter()
        try:
            seqs = self._store.append([payload for payload, _, _ in batch])
        except Exception as err:
            log.error("audit append of %d records failed: %s", len(batch), err)
            if len(batch) > 1:
                # One record may be the cause: it must not take the others' commits with it.
                for item in batch:
                    self._commit([item])
                return
            for _, future, _ in batch:
                if not future.cancelled():
                    with contextlib.suppress(InvalidStateError):
                        future.set_exception(err)
            return
        # Handed on (not masked) before the acknowledgement, so that flush_inputs() after a
        # caller's future resolved also waits for that caller's input.
        for (payload, _, inputs), seq in zip(batch, seqs, strict=True):
            if inputs is None:
                continue
            if self._inputs.qsize() >= self.max_pending_inputs:
                self.inputs_dropped += 1  # the decision is kept; its replay input is not
                if self.inputs_dropped % 1000 == 1:
                    log.warning("replay inputs dropped (masking behind): %d", self.inputs_dropped)
                continue
            self._inputs.put((seq, int(payload["ts_ns"]), inputs))
        for (_, future, _), seq in zip(batch, seqs, strict=True):
            # A caller that stopped waiting may have cancelled its future; the record is
            # committed all the same, and this thread must not die over it.
            if not future.cancelled():
                with contextlib.suppress(InvalidStateError):
                    future.set_result(seq)
        if self._on_batch is not None:
            self._on_batch(len(batch), time.perf_counter() - started)

    # -- replay inputs, after the decisions are acknowledged --------------------------------

    def _run_inputs(self) -> None:
        # Its own connection: masking runs while the writer thread commits the next batch.
        store = AuditStore(self.path, create=False)
        try:
            while True:
                item = self._inputs.get()
                batch, waiters, stopping = [], [], False
                while True:
                    if item is _STOP:
                        stopping = True
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    else:
                        batch.append(item)
                    if len(batch) >= self.max_batch:
                        break
                    try:
                        item = self._inputs.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._store_inputs(store, batch)
                for waiter in waiters:
                    waiter.set()
                if stopping:
                    return
        finally:
            store.close()

    def _store_inputs(self, store: AuditStore, batch: list[tuple[int, int, Any]]) -> None:
        try:
            rows = [
                (seq, ts_ns, replay_inputs.mask_inputs(inputs, self._masker))
                for seq, ts_ns, inputs in batch
            ]
            store.append_inputs(rows)
        except Exception:
            # Only replay is affected: the decisions were committed before.
            log.exception("storing %d replay inputs failed", len(batch))
