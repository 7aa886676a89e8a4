"""The decision log keeps each decision's canonical input, masked, hash-linked and bounded."""

from __future__ import annotations

import json
import sqlite3

from conftest import EXAMPLES, NOW_NS
from mlgate.audit import AuditStore, Masker, decision_record
from mlgate.audit.local import record_subjects
from mlgate.audit.replay_inputs import DIGEST_KEY, EMAILS
from mlgate.engine import Engine
from mlgate.impact.objects import find_objects
from mlgate.subjects import RequestInfo

DEPLOYER = "dana.deployer@bank.example"
_DAY = 86_400 * 1_000_000_000


def _record(db, ts_ns=None):
    info = RequestInfo(username=DEPLOYER, groups=("mlops-release-managers",), source="manifest")
    engine = Engine.default()
    try:
        objs = find_objects([str(EXAMPLES / "k8s" / "credit-scorer-isvc.yaml")], info)
        return record_subjects(db, engine, [o.subject for o in objs], ts_ns=ts_ns)
    finally:
        engine.close()


def test_inputs_are_stored_masked_and_chained(tmp_path) -> None:
    db = tmp_path / "audit.db"
    _record(db)
    store = AuditStore(db, create=False)
    try:
        (record,) = list(store.records())
        stored = store.stored_inputs(record.seq)
        assert stored is not None and stored.digest == record.body[DIGEST_KEY]
        assert store.verify().ok
        (doc,) = stored.inputs
        assert doc["request"]["user"]["username"].startswith("hmac:")
        assert doc["evidence"]["schema"]["valid"] is True  # validated before masking
        assert "/0/request/user/username" in stored.masked and EMAILS in stored.masked
    finally:
        store.close()
    raw = sqlite3.connect(db).execute("SELECT body FROM replay_inputs").fetchone()[0]
    assert DEPLOYER not in raw
    assert "@bank.example" not in raw  # no email address survives anywhere in the input


def test_bundles_in_annotations_are_kept_as_digests() -> None:
    """A bundle is base64: an email inside would escape masking, so only its digest is kept."""
    import base64

    from conftest import minimal_input
    from mlgate.audit.replay_inputs import mask_inputs

    hidden = base64.b64encode(b'{"approver": "eve@bank.example"}').decode()
    doc = minimal_input()
    doc["request"]["annotations"] = {
        "mlgate.io/attestation": hidden,
        "mlgate.io/break-glass": "INC-42",
        "team": "x" * 2000,
    }
    stored = json.loads(mask_inputs([doc], Masker("hash", b"k" * 32)))
    annotations = stored["inputs"][0]["request"]["annotations"]
    assert annotations["mlgate.io/attestation"].startswith("redacted sha256:")
    assert annotations["team"].startswith("redacted sha256:")
    assert annotations["mlgate.io/break-glass"] == "INC-42"
    assert "/0/request/annotations/mlgate.io~1attestation" in stored["masked"]
    assert hidden not in json.dumps(stored)


def test_input_retention_is_bounded_and_keeps_the_records(tmp_path) -> None:
    db = tmp_path / "audit.db"
    _record(db, ts_ns=NOW_NS - 40 * _DAY)
    _record(db, ts_ns=NOW_NS - 1 * _DAY)
    _record(db, ts_ns=NOW_NS)
    store = AuditStore(db)
    try:
        assert store.prune_inputs(retention_days=30, max_rows=None, now_ns=NOW_NS) == 1
        assert store.prune_inputs(retention_days=None, max_rows=1, now_ns=NOW_NS) == 1
        seqs = [r.seq for r in store.records()]
        assert len(seqs) == 3  # the decisions stay; only their replay inputs went
        assert [store.stored_inputs(s) is not None for s in seqs] == [False, False, True]
        assert store.verify().ok
        # Pruning records takes their inputs with them.
        store.prune(max_rows=1, now_ns=NOW_NS)
        assert store.stored_inputs(seqs[-1]) is None
        assert store.verify().ok
    finally:
        store.close()


def test_records_without_inputs_are_unchanged(tmp_path, engine) -> None:
    """A record made without inputs (the webhook's error paths) has no digest and no row."""
    from conftest import minimal_input

    decision = engine.evaluate(minimal_input())
    payload = decision_record(decision, Masker("hash", b"k" * 32), ts_ns=NOW_NS)
    store = AuditStore(tmp_path / "audit.db")
    try:
        (seq,) = store.append([payload])
        assert DIGEST_KEY not in store.get(seq).body
        assert store.stored_inputs(seq) is None
    finally:
        store.close()


def test_a_log_created_before_inputs_were_kept_still_reads(tmp_path) -> None:
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    raw.executescript(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, type TEXT NOT NULL,"
        " decision_id TEXT, body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    )
    raw.close()
    store = AuditStore(db, create=False)
    try:
        assert store.stored_inputs(1) is None
    finally:
        store.close()
    store = AuditStore(db)  # opening for writing migrates: the table is added
    try:
        tables = {
            r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert "replay_inputs" in tables
    finally:
        store.close()
