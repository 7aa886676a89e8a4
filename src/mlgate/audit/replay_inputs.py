"""The canonical inputs behind each decision, kept (masked) so a policy change can be replayed.

They live in their own table, ``replay_inputs``, beside the hash-chained ``records``: the
chain stays small and fast to verify, and the inputs can have a shorter retention than the
decisions (they are the bulkier part). A record that has inputs carries their digest
(``replay_sha256``) in its hashed body, so an input edited after the fact no longer matches
the chain, and ``mlgate impact`` reports it instead of replaying it.

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
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_MAX_ROWS = 20_000  # inputs carry signature bundles: ~10-30 KB each
_NS_PER_DAY = 86_400 * 1_000_000_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS replay_inputs (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS replay_inputs_ts ON replay_inputs(ts_ns);
"""


@dataclass(frozen=True)
class ReplayInputs:
    inputs: list[dict[str, Any]]
    masked: list[str]  # JSON pointers (into inputs) masking replaced, and/or EMAILS
    digest: str


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


def insert(db: sqlite3.Connection, seq: int, ts_ns: int, body: str) -> None:
    db.execute(
        "INSERT OR REPLACE INTO replay_inputs(seq, ts_ns, body) VALUES (?, ?, ?)",
        (seq, ts_ns, body),
    )


def load(db: sqlite3.Connection, seq: int) -> ReplayInputs | None:
    try:
        row = db.execute("SELECT body FROM replay_inputs WHERE seq = ?", (seq,)).fetchone()
    except sqlite3.OperationalError:  # a log created before inputs were kept
        return None
    if row is None:
        return None
    parsed = json.loads(row[0])
    return ReplayInputs(
        list(parsed.get("inputs", [])), list(parsed.get("masked", [])), digest_of(row[0])
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
