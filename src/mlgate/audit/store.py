"""The decision log on disk: an append-only, hash-chained SQLite table.

Each record's ``hash`` is ``sha256(prev_hash + body)`` where ``body`` is the record's
canonical JSON (sorted keys, no spaces) exactly as stored, so verification hashes the stored
text and never depends on re-serialising it. The body carries its own ``seq``: a deleted row
shows up as a gap and as a broken ``prev_hash`` link; an edited row no longer hashes to its
``hash``. A ``head`` (last seq and hash, updated in the same transaction as every append)
catches a truncated tail.

Retention deletes a prefix of the chain. To keep the rest verifiable, the hash at the cut is
kept as the ``anchor`` and a ``checkpoint`` record naming it is appended to the chain, so the
anchor itself is covered by the hashes after it: forging it means rewriting every later record.

Durability: WAL with ``synchronous=FULL`` fsyncs the WAL on every commit, so a committed record
survives ``kill -9`` and power loss. Appends take ``BEGIN IMMEDIATE`` (the write lock) before
reading the head, so several processes (uvicorn workers) can share one chain.

Over 400 lines because the SQLite store, its hash chain and its verification are one contract
(the chain is only checkable where it is written).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.audit import replay_inputs as replay
from mlgate.errors import MlgateError

GENESIS = "0" * 64
SCHEMA_VERSION = "1"
_NS_PER_DAY = 86_400 * 1_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    type TEXT NOT NULL,
    decision_id TEXT,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_ts ON records(ts_ns);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical(value: dict[str, Any]) -> str:
    """Sorted, compact JSON; a lone surrogate (not encodable as UTF-8) stays a \\u escape.

    Without that a record holding one (a username, an annotation) could not be stored, and
    its decision would be lost.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def chain_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    seq: int
    ts_ns: int
    type: str
    body: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    message: str
    first_bad_seq: int | None = None
    anchor_seq: int = 0
    head_seq: int = 0


class AuditStore:
    """One connection to the log. Not shared between threads: each thread opens its own."""

    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout_ms: int = 10_000):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise MlgateError(
                "audit database not found", location=str(self.path), code="audit.not_found"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                str(self.path),
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_ms / 1000,
            )
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsynced at every commit; an acknowledged record is on disk.
            self._db.execute("PRAGMA synchronous=FULL")
            if create:
                self._db.executescript(_SCHEMA)
                replay.migrate(self._db)  # added in schema 1: additive
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (SCHEMA_VERSION,),
                )
        except sqlite3.DatabaseError as err:
            raise MlgateError(
                f"cannot open audit database: {err}", location=str(self.path)
            ) from None

    def close(self) -> None:
        self._db.close()

    # -- writing -------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _head(self) -> tuple[int, str]:
        seq, digest = self._meta("head_seq"), self._meta("head_hash")
        if seq is None or digest is None:
            return 0, GENESIS
        return int(seq), digest

    def _insert(self, seq: int, prev: str, payload: dict[str, Any]) -> str:
        payload, inputs_body = replay.split(payload)
        if inputs_body is not None:
            replay.insert(self._db, seq, int(payload["ts_ns"]), inputs_body)
        body_obj = {**payload, "seq": seq}
        body = canonical(body_obj)
        digest = chain_hash(prev, body)
        self._db.execute(
            "INSERT INTO records(seq, ts_ns, type, decision_id, body, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                int(payload["ts_ns"]),
                payload["type"],
                payload.get("decision_id"),
                body,
                prev,
                digest,
            ),
        )
        return digest

    def append(self, payloads: list[dict[str, Any]]) -> list[int]:
        """Appends records in one transaction (one fsync); returns their sequence numbers.

        Each payload needs ``type`` and ``ts_ns``; ``seq`` is assigned here.
        """
        if not payloads:
            return []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            seq, prev = self._head()
            seqs = []
            for payload in payloads:
                seq += 1
                prev = self._insert(seq, prev, payload)
                seqs.append(seq)
            self._set_meta("head_seq", str(seq))
            self._set_meta("head_hash", prev)
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (SQLITE_FULL does): then a second ROLLBACK
            # fails and would hide the real error (the disk is full) behind its own.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return seqs

    def append_inputs(self, items: list[tuple[int, int, str]]) -> int | None:
        """Stores masked inputs ``(seq, ts_ns, body)`` of records already appended, and one
        ``replay-inputs`` record that chains their digests, in one transaction; returns that
        record's seq. Rows whose record is gone (pruned meanwhile) are skipped."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            present = {
                seq
                for (seq,) in self._db.execute(
                    f"SELECT seq FROM records WHERE seq IN ({','.join('?' * len(items))})",
                    [seq for seq, _, _ in items],
                )
            }
            kept = [item for item in items if item[0] in present]
            if not kept:
                self._db.execute("ROLLBACK")
                return None
            head_seq, head_hash = self._head()
            seq = head_seq + 1
            record = {
                "type": replay.DIGESTS_TYPE,
                "ts_ns": time.time_ns(),
                "digests": {str(s): replay.digest_of(body) for s, _, body in kept},
            }
            new_hash = self._insert(seq, head_hash, record)
            for s, ts_ns, body in kept:
                replay.insert(self._db, s, ts_ns, body, chain_seq=seq)
            self._set_meta("head_seq", str(seq))
            self._set_meta("head_hash", new_hash)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return seq

    def prune(
        self,
        *,
        retention_days: float | None = None,
        max_rows: int | None = None,
        now_ns: int | None = None,
    ) -> int:
        """Deletes the oldest records beyond the retention bounds; returns how many.

        The cut is anchored and a checkpoint record is appended in the same transaction.
        """
        now_ns = time.time_ns() if now_ns is None else now_ns
        self._db.execute("BEGIN IMMEDIATE")
        try:
            head_seq, head_hash = self._head()
            cut = 0
            reasons = []
            if retention_days is not None:
                limit_ns = now_ns - int(retention_days * _NS_PER_DAY)
                row = self._db.execute(
                    "SELECT MAX(seq) FROM records WHERE ts_ns < ?", (limit_ns,)
                ).fetchone()
                if row[0]:
                    cut = max(cut, int(row[0]))
                    reasons.append(f"older than {retention_days:g} days")
            if max_rows is not None:
                count = self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
                # Keep max_rows - 1 records plus the checkpoint appended below.
                over = head_seq + 1 - max(int(max_rows), 1)
                if count > max_rows and over > cut:
                    cut = over
                    reasons.append(f"more than {max_rows} records")
            anchor_seq = int(self._meta("anchor_seq") or 0)
            if cut <= anchor_seq:
                self._db.execute("ROLLBACK")
                return 0
            row = self._db.execute("SELECT hash FROM records WHERE seq = ?", (cut,)).fetchone()
            if row is None:
                raise MlgateError(f"audit log: record {cut} to anchor retention at is missing")
            cut_hash = row[0]
            deleted = self._db.execute("DELETE FROM records WHERE seq <= ?", (cut,)).rowcount
            replay.prune(self._db, up_to_seq=cut, retention_days=None, max_rows=None, now_ns=now_ns)
            self._set_meta("anchor_seq", str(cut))
            self._set_meta("anchor_hash", cut_hash)
            checkpoint = {
                "type": "checkpoint",
                "ts_ns": now_ns,
                "anchor_seq": cut,
                "anchor_hash": cut_hash,
                "deleted": deleted,
                "reason": "retention: " + ", ".join(reasons),
            }
            new_hash = self._insert(head_seq + 1, head_hash, checkpoint)
            self._set_meta("head_seq", str(head_seq + 1))
            self._set_meta("head_hash", new_hash)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return deleted

    def prune_inputs(
        self,
        *,
        retention_days: float | None = replay.DEFAULT_RETENTION_DAYS,
        max_rows: int | None = replay.DEFAULT_MAX_ROWS,
        now_ns: int | None = None,
    ) -> int:
        """Deletes stored replay inputs past their own bound (the records stay)."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        self._db.execute("BEGIN IMMEDIATE")
        try:
            deleted = replay.prune(
                self._db, retention_days=retention_days, max_rows=max_rows, now_ns=now_ns
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return deleted

    # -- reading -------------------------------------------------------------------------

    def get(self, seq: int) -> StoredRecord | None:
        row = self._db.execute(
            "SELECT seq, ts_ns, type, body, prev_hash, hash FROM records WHERE seq = ?", (seq,)
        ).fetchone()
        if row is None:
            return None
        seq_, ts_ns, type_, body, prev, digest = row
        return StoredRecord(seq_, ts_ns, type_, json.loads(body), prev, digest)

    def stored_inputs(self, seq: int) -> replay.ReplayInputs | None:
        """The masked canonical inputs stored with record ``seq`` (None: never or no longer)."""
        return replay.load(self._db, seq)

    def chained_input_digest(self, record: StoredRecord, stored: replay.ReplayInputs) -> str | None:
        """The digest the hash chain holds for ``record``'s stored inputs: in the record
        itself, or in the ``replay-inputs`` record the stored row points at."""
        if replay.DIGEST_KEY in record.body:
            return str(record.body[replay.DIGEST_KEY])
        if stored.chain_seq is None:
            return None
        chained = self.get(stored.chain_seq)
        if chained is None or chained.type != replay.DIGESTS_TYPE:
            return None
        digest = (chained.body.get("digests") or {}).get(str(record.seq))
        return str(digest) if digest is not None else None

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def records(
        self, *, since_ns: int | None = None, limit: int | None = None, types: tuple[str, ...] = ()
    ) -> Iterator[StoredRecord]:
        where = "ts_ns >= ?"
        args: list[Any] = [since_ns or 0]
        if types:
            where += f" AND type IN ({','.join('?' * len(types))})"
            args += list(types)
        columns = "seq, ts_ns, type, body, prev_hash, hash"
        if limit is None:
            sql = f"SELECT {columns} FROM records WHERE {where} ORDER BY seq"
        else:
            # The newest ``limit`` records, still in chain order.
            sql = (
                f"SELECT * FROM (SELECT {columns} FROM records WHERE {where} "
                "ORDER BY seq DESC LIMIT ?) ORDER BY seq"
            )
            args.append(int(limit))
        for seq, ts_ns, type_, body, prev, digest in self._db.execute(sql, args):
            yield StoredRecord(seq, ts_ns, type_, json.loads(body), prev, digest)

    def verify(self) -> VerifyResult:
        """Walks the chain from the anchor to the head; names the first bad record."""
        # A read transaction gives a consistent snapshot while a server keeps appending.
        self._db.execute("BEGIN")
        try:
            return self._verify()
        finally:
            self._db.execute("COMMIT")

    def _verify(self) -> VerifyResult:
        anchor_seq = int(self._meta("anchor_seq") or 0)
        anchor_hash = self._meta("anchor_hash") or GENESIS
        head_seq, head_hash = self._head()
        expected_seq, prev = anchor_seq + 1, anchor_hash
        checked = 0
        last_checkpoint: dict[str, Any] | None = None

        def bad(seq: int, message: str) -> VerifyResult:
            return VerifyResult(False, checked, message, seq, anchor_seq, head_seq)

        rows = self._db.execute(
            "SELECT seq, ts_ns, type, decision_id, body, prev_hash, hash FROM records ORDER BY seq"
        )
        for seq, ts_ns, type_, decision_id, body, prev_hash, digest in rows:
            if seq != expected_seq:
                if seq < expected_seq:
                    return bad(seq, f"record {seq} precedes the retention anchor {anchor_seq}")
                missing = (
                    f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
                )
                return bad(expected_seq, f"record(s) {missing} deleted: chain jumps to {seq}")
            if prev_hash != prev:
                return bad(seq, f"record {seq}: prev_hash does not link to record {seq - 1}")
            if chain_hash(prev, body) != digest:
                return bad(seq, f"record {seq} was modified: its hash does not match its content")
            try:
                parsed = json.loads(body)
            except ValueError:
                return bad(seq, f"record {seq}: body is not JSON")
            columns = (
                parsed.get("seq"),
                parsed.get("ts_ns"),
                parsed.get("type"),
                parsed.get("decision_id"),
            )
            if columns != (seq, ts_ns, type_, decision_id):
                return bad(
                    seq,
                    f"record {seq}: indexed columns were modified (differ from the hashed body)",
                )
            if type_ == "checkpoint":
                last_checkpoint = parsed
            prev = digest
            expected_seq = seq + 1
            checked += 1
        last_seq = expected_seq - 1
        if (last_seq, prev) != (head_seq, head_hash) and not (
            head_seq == 0 and last_seq == anchor_seq
        ):
            if last_seq < head_seq:
                return bad(
                    last_seq + 1, f"record(s) {last_seq + 1}-{head_seq} at the end were deleted"
                )
            return bad(
                last_seq, f"the head (record {head_seq}) does not match the last record {last_seq}"
            )
        named = last_checkpoint is not None and (
            last_checkpoint.get("anchor_seq"),
            last_checkpoint.get("anchor_hash"),
        ) == (anchor_seq, anchor_hash)
        if anchor_seq and not named:
            return bad(
                anchor_seq + 1, "the retention anchor is not named by the latest checkpoint record"
            )
        span = f"records {anchor_seq + 1}-{head_seq}" if checked else "no records"
        anchored = f", anchored at {anchor_seq} after retention" if anchor_seq else ""
        return VerifyResult(
            True, checked, f"chain intact: {span}{anchored}", None, anchor_seq, head_seq
        )
