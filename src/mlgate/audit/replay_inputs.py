"""The canonical inputs behind each decision, kept (masked) so a policy change can be replayed.

They live in their own table, ``replay_inputs``, beside the hash-chained ``records``: the
chain stays small and fast to verify, and the inputs can have a shorter retention than the
decisions (they are the bulkier part). Every stored input's digest is in the hash chain, so
an input edited after the fact no longer matches it, and ``mlgate impact`` reports it
instead of replaying it. The digest travels one of two ways:

- in the decision record's own body (``replay_sha256``), when the inputs are masked before
  the record is appended (``decision_record(inputs=...)``: the CLI, the demo);
- in a later ``replay-inputs`` record that lists ``{seq: digest}`` for a batch of decisions,
  when the webhook's writer masks them *after* the decisions are committed and acknowledged
  (``AuditWriter.submit(inputs=...)``): masking stays off the request path. The row points
  at that record (``chain_seq``). A crash between the two loses the inputs of at most the
  last batches, never a decision: ``mlgate impact`` then reports ``no-stored-input``.

Masking is the decision log's own (``Masker``): usernames become keyed tokens and email
addresses anywhere in the input are replaced. Signature and attestation bundles carried in
annotations (and any annotation over ``MAX_ANNOTATION`` characters) are replaced by their
digest: they are base64, so an email inside them would escape masking, and the policies see
their verified facts (``signature``, ``attestation``), which are kept. The JSON pointers of the
values masking changed are kept (``masked``), so a replay can tell whether its result depends
on them.

Retention: inputs are deleted with their records, and also earlier, past their own bound
(``DEFAULT_RETENTION_DAYS`` / ``DEFAULT_MAX_ROWS`` unless configured): there is always a bound.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from mlgate.audit.masking import Masker
from mlgate.subjects.base import ATTESTATION, SIGNATURE

PAYLOAD_KEY = "replay_inputs"
MAX_ANNOTATION = 1024
_BUNDLE_KEYS = frozenset({SIGNATURE, ATTESTATION})
DIGEST_KEY = "replay_sha256"
DIGESTS_TYPE = "replay-inputs"  # a chained record naming the digests of deferred inputs
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_MAX_ROWS = 20_000  # inputs carry signature bundles: ~10-30 KB each
_NS_PER_DAY = 86_400 * 1_000_000_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS replay_inputs (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    body TEXT NOT NULL,
    chain_seq INTEGER
);
CREATE INDEX IF NOT EXISTS replay_inputs_ts ON replay_inputs(ts_ns);
"""


def migrate(db: sqlite3.Connection) -> None:
    """Creates the table, or adds ``chain_seq`` to one made before inputs could be deferred."""
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(replay_inputs)")}
    if "chain_seq" not in columns:
        db.execute("ALTER TABLE replay_inputs ADD COLUMN chain_seq INTEGER")


@dataclass(frozen=True)
class ReplayInputs:
    inputs: list[dict[str, Any]]
    masked: list[str]  # JSON pointers (into inputs) masking replaced, and/or EMAILS
    digest: str
    chain_seq: int | None = None  # the replay-inputs record naming the digest (deferred)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


EMAILS = "email addresses"  # the ``masked`` entry for emails replaced anywhere in the text
# What the masker leaves in place of an email: a keyed token, or a fixed mask.
MASKED_EMAIL = re.compile(r"<email hmac:[0-9a-f]+>|\*\*\*@\*\*\*")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _redact_bundles(doc: dict[str, Any], index: int, changed: list[str]) -> dict[str, Any]:
    annotations = (doc.get("request") or {}).get("annotations")
    if not isinstance(annotations, dict):
        return doc
    redacted = {}
    for key, value in annotations.items():
        if isinstance(value, str) and (key in _BUNDLE_KEYS or len(value) > MAX_ANNOTATION):
            redacted[key] = "redacted " + digest_of(value)
            changed.append(f"/{index}/request/annotations/{_escape(key)}")
        else:
            redacted[key] = value
    return {**doc, "request": {**doc["request"], "annotations": redacted}}


def _mask_user(
    doc: dict[str, Any], index: int, masker: Masker, changed: list[str]
) -> dict[str, Any]:
    user = (doc.get("request") or {}).get("user")
    if not isinstance(user, dict) or not isinstance(user.get("username"), str):
        return doc
    token = masker.user(user["username"])
    if token == user["username"]:
        return doc
    changed.append(f"/{index}/request/user/username")
    return {**doc, "request": {**doc["request"], "user": {**user, "username": token}}}


def mask_inputs(inputs: list[dict[str, Any]], masker: Masker) -> str:
    """The stored form, as canonical JSON text: usernames tokenised, bundles reduced to their
    digest (structural, cheap copies), then every email address in the text masked in one
    regular-expression pass (this runs on the webhook's request path: no tree walk)."""
    changed: list[str] = []
    docs = [
        _mask_user(_redact_bundles(doc, i, changed), i, masker, changed)
        for i, doc in enumerate(inputs)
    ]
    text = _canonical(docs)
    masked = masker.text(text)
    if masked != text:
        changed.append(EMAILS)
    # Written out as _canonical({"inputs": ..., "masked": ...}) would write it (sorted keys).
    return f'{{"inputs":{masked},"masked":{_canonical(changed)}}}'


def split(payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Takes the inputs out of a record payload; the record keeps only their digest."""
    stored = payload.get(PAYLOAD_KEY)
    if stored is None:
        return payload, None
    body = stored if isinstance(stored, str) else _canonical(stored)
    rest = {k: v for k, v in payload.items() if k != PAYLOAD_KEY}
    rest[DIGEST_KEY] = digest_of(body)
    return rest, body


def insert(
    db: sqlite3.Connection, seq: int, ts_ns: int, body: str, chain_seq: int | None = None
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO replay_inputs(seq, ts_ns, body, chain_seq) VALUES (?, ?, ?, ?)",
        (seq, ts_ns, body, chain_seq),
    )


def load(db: sqlite3.Connection, seq: int) -> ReplayInputs | None:
    row = None
    # A log opened read-only may predate the table, or its chain_seq column.
    for sql in ("SELECT body, chain_seq FROM replay_inputs WHERE seq = ?",
                "SELECT body, NULL FROM replay_inputs WHERE seq = ?"):  # fmt: skip
        try:
            row = db.execute(sql, (seq,)).fetchone()
            break
        except sqlite3.OperationalError:
            continue
    if row is None:
        return None
    parsed = json.loads(row[0])
    return ReplayInputs(
        list(parsed.get("inputs", [])), list(parsed.get("masked", [])), digest_of(row[0]), row[1]
    )


def prune(
    db: sqlite3.Connection,
    *,
    up_to_seq: int = 0,
    retention_days: float | None = DEFAULT_RETENTION_DAYS,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    now_ns: int,
) -> int:
    """Deletes inputs of pruned records and inputs past their own bound; returns how many."""
    deleted = db.execute("DELETE FROM replay_inputs WHERE seq <= ?", (up_to_seq,)).rowcount
    if retention_days is not None:
        limit_ns = now_ns - int(retention_days * _NS_PER_DAY)
        deleted += db.execute("DELETE FROM replay_inputs WHERE ts_ns < ?", (limit_ns,)).rowcount
    if max_rows is not None:
        deleted += db.execute(
            "DELETE FROM replay_inputs WHERE seq NOT IN "
            "(SELECT seq FROM replay_inputs ORDER BY seq DESC LIMIT ?)",
            (max(int(max_rows), 0),),
        ).rowcount
    return deleted
