"""The decision log keeps each decision's canonical input, masked, hash-linked and bounded."""

from __future__ import annotations

import json
import sqlite3
import threading

from conftest import EXAMPLES, NOW_NS
from mlgate.audit import AuditStore, AuditWriter, Masker, decision_record
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


LOG_MASKER = Masker("hash", b"k" * 32)  # the request path's (the writer gets its own)


class _HeldMasker(Masker):
    """Masks like the log's masker, but only once released: stands for a slow input thread."""

    def __init__(self) -> None:
        super().__init__("hash", b"k" * 32)
        self.release = threading.Event()

    def text(self, value: str) -> str:
        assert self.release.wait(30)
        return super().text(value)


def _webhook_inputs(engine) -> tuple[list, object]:
    info = RequestInfo(username=DEPLOYER, groups=("mlops-release-managers",), source="admission")
    (found,) = find_objects([str(EXAMPLES / "k8s" / "credit-scorer-isvc.yaml")], info)
    inputs = [engine.with_card_evidence(d) for d in engine.build_inputs(found.subject)]
    return inputs, engine.evaluate_all(inputs, found.subject.describe())


def test_webhook_inputs_are_masked_after_the_decision_is_acknowledged(tmp_path, engine) -> None:
    """The writer acknowledges a decision before its input is masked (off the request path);
    until then the log is complete and verifies, and a replay says the input is missing."""
    inputs, decision = _webhook_inputs(engine)
    masker = _HeldMasker()
    db = tmp_path / "audit.db"
    writer = AuditWriter(db, input_masker=masker)
    try:
        seq = writer.submit(decision_record(decision, LOG_MASKER), inputs=inputs).result(10)
        reader = AuditStore(db, create=False)
        try:
            assert reader.get(seq) is not None and reader.verify().ok  # committed, acknowledged
            assert reader.stored_inputs(seq) is None  # its input is still being masked
        finally:
            reader.close()
        masker.release.set()
        assert writer.flush_inputs(10)
    finally:
        writer.close()
    store = AuditStore(db, create=False)
    try:
        assert store.verify().ok
        record, chained = list(store.records())
        assert chained.type == "replay-inputs" and DIGEST_KEY not in record.body
        stored = store.stored_inputs(record.seq)
        assert stored is not None and stored.chain_seq == chained.seq
        assert store.chained_input_digest(record, stored) == stored.digest
        assert stored.inputs[0]["request"]["user"]["username"].startswith("hmac:")
        assert DEPLOYER not in json.dumps(stored.inputs)
    finally:
        store.close()


def test_deferred_inputs_are_bounded_and_never_hold_back_decisions(tmp_path, engine) -> None:
    inputs, decision = _webhook_inputs(engine)
    masker = _HeldMasker()
    writer = AuditWriter(tmp_path / "audit.db", input_masker=masker, max_pending_inputs=1)
    try:
        # The first input is taken by the (held) input thread, the second waits, the rest
        # are past the bound: dropped, while every decision is committed.
        seqs = [
            writer.submit(decision_record(decision, LOG_MASKER), inputs=inputs).result(10)
            for _ in range(5)
        ]
        assert len(set(seqs)) == 5 and writer.inputs_dropped >= 2
        masker.release.set()
        assert writer.flush_inputs(10)
    finally:
        writer.close()
    store = AuditStore(tmp_path / "audit.db", create=False)
    try:
        kept = [s for s in seqs if store.stored_inputs(s) is not None]
        assert store.verify().ok and 1 <= len(kept) == 5 - writer.inputs_dropped
    finally:
        store.close()


def test_a_deferred_input_edited_or_repointed_is_not_replayed(tmp_path, engine) -> None:
    from mlgate.impact.audit_replay import AuditReplayer

    inputs, decision = _webhook_inputs(engine)
    masker = Masker("hash", b"k" * 32)
    db = tmp_path / "audit.db"
    writer = AuditWriter(db, input_masker=masker)
    try:
        seqs = [
            writer.submit(decision_record(decision, LOG_MASKER), inputs=inputs).result(10)
            for _ in range(3)
        ]
        assert writer.flush_inputs(10)
    finally:
        writer.close()
    with sqlite3.connect(db) as raw:
        raw.execute(
            "UPDATE replay_inputs SET body = replace(body, 'risk_tier', 'risk_tier ') WHERE seq = ?",
            (seqs[0],),
        )
        # Point a row at another record (the first decision's): no digest for it there.
        raw.execute("UPDATE replay_inputs SET chain_seq = ? WHERE seq = ?", (seqs[0], seqs[1]))
    raw.close()
    store = AuditStore(db, create=False)
    try:
        replayer = AuditReplayer(engine, engine, trust_changed=False)
        items = {i.ref: i for i in replayer.replay(store)}
        assert items[f"audit #{seqs[0]}"].reason_code == "input-digest-mismatch"
        assert items[f"audit #{seqs[1]}"].reason_code == "input-digest-mismatch"
        assert items[f"audit #{seqs[2]}"].status == "replayed"
    finally:
        store.close()
