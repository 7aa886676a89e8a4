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
    masked: list[str]  # JSON pointers (into inputs) whose values masking replaced
    digest: str


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def _mask(value: Any, masker: Masker, pointer: str, changed: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, masker, f"{pointer}/{k}", changed) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, masker, f"{pointer}/{i}", changed) for i, v in enumerate(value)]
    if isinstance(value, str):
        masked = masker.text(value)
        if masked != value:
            changed.append(pointer)
        return masked
    return value


def _redact_bundles(doc: dict[str, Any], index: int, changed: list[str]) -> dict[str, Any]:
    annotations = (doc.get("request") or {}).get("annotations")
    if not isinstance(annotations, dict):
        return doc
    redacted = {}
    for key, value in annotations.items():
        if isinstance(value, str) and (key in _BUNDLE_KEYS or len(value) > MAX_ANNOTATION):
            redacted[key] = "redacted " + digest_of(value)
            changed.append(
                f"/{index}/request/annotations/{key.replace('~', '~0').replace('/', '~1')}"
            )
        else:
            redacted[key] = value
    return {**doc, "request": {**doc["request"], "annotations": redacted}}


def mask_inputs(inputs: list[dict[str, Any]], masker: Masker) -> dict[str, Any]:
    """The stored form: inputs with usernames tokenised and emails masked, plus what changed."""
    changed: list[str] = []
    out = []
    for i, doc in enumerate(inputs):
        masked = _mask(_redact_bundles(doc, i, changed), masker, f"/{i}", changed)
        user = masked.get("request", {}).get("user")
        if isinstance(user, dict) and isinstance(user.get("username"), str):
            token = masker.user(doc["request"]["user"]["username"])
            if token != doc["request"]["user"]["username"]:
                user["username"] = token
                pointer = f"/{i}/request/user/username"
                if pointer not in changed:
                    changed.append(pointer)
        out.append(masked)
    return {"inputs": out, "masked": changed}


def split(payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Takes the inputs out of a record payload; the record keeps only their digest."""
    stored = payload.get(PAYLOAD_KEY)
    if stored is None:
        return payload, None
    body = _canonical(stored)
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
