"""The webhook's decision path in-process: failure policy, audit log, namespace labels, limits.

The end-to-end behaviour over TLS is in test_webhook_server.py; here a stub engine makes the
failure modes (slow, broken, unrecordable) deterministic and independent of the policy set.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlgate.audit import AuditStore, AuditWriter, Masker
from mlgate.decide import EVAL_ERROR_CONTROL
from mlgate.server import admission
from mlgate.server.namespaces import KubeNamespaceLabels
from webhook_app_support import FakeKubeAPI, StubEngine, records
from webhook_support import denied_controls, objects, plain_pod, review


def decide(client: TestClient, doc: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/validate", json=doc)
    assert r.status_code == 200, r.text
    return r.json()["response"]


ISVC = objects("ml-prod")["InferenceService"]


def test_allowed_decision_is_recorded_before_the_response(make_app, tmp_path) -> None:
    client, _ = make_app(StubEngine("allow"))
    resp = decide(client, review(ISVC, uid="u-1"))
    assert resp == {
        "uid": "u-1",
        "allowed": True,
        "auditAnnotations": {
            "decision-id": "d-1",
            "allowed": "true",
            "policy-revision": "sha256:stub",
        },
    }
    (record,) = records(tmp_path / "audit.db")
    assert record["uid"] == "u-1" and record["decision_id"] == "d-1" and record["allowed"] is True


def test_evaluation_error_fails_closed(make_app) -> None:
    client, webhook = make_app(StubEngine("error"))
    resp = decide(client, review(ISVC))
    assert resp["allowed"] is False and resp["status"]["code"] == 403
    assert denied_controls(resp) == [EVAL_ERROR_CONTROL]
    text = webhook.metrics.render().decode()
    assert 'mlgate_decisions_total{result="error"} 1.0' in text
    assert 'mlgate_evaluation_errors_total{reason="evaluation"} 1.0' in text


def test_timeout_fails_closed_within_the_deadline(make_app, tmp_path) -> None:
    client, webhook = make_app(StubEngine("allow", delay=1.0), timeout_s=0.2, audit_timeout_s=0.2)
    started = time.monotonic()
    resp = decide(client, review(ISVC))
    assert time.monotonic() - started < 0.9
    assert resp["allowed"] is False and denied_controls(resp) == [EVAL_ERROR_CONTROL]
    assert (
        'mlgate_evaluation_errors_total{reason="timeout"} 1.0' in webhook.metrics.render().decode()
    )
    time.sleep(1.0)  # the slow evaluation finishes: it must not log a second, different record
    (record,) = records(tmp_path / "audit.db")
    assert record["allowed"] is False and record["controls"] == [EVAL_ERROR_CONTROL]


def test_fail_open_admits_with_a_warning_and_is_metered(make_app, tmp_path) -> None:
    client, webhook = make_app(StubEngine("unavailable"), fail_open=True)
    resp = decide(client, review(ISVC))
    assert resp["allowed"] is True
    assert resp["warnings"][0].startswith("mlgate failed open")
    assert resp["auditAnnotations"]["fail-open"] == "true"
    assert "mlgate_fail_open_total 1.0" in webhook.metrics.render().decode()
    (record,) = records(tmp_path / "audit.db")
    assert record["fail_open"] is True and record["allowed"] is True


def test_fail_open_does_not_admit_policy_denials(make_app) -> None:
    client, _ = make_app(StubEngine("deny"), fail_open=True)
    assert decide(client, review(ISVC))["allowed"] is False


def test_unrecordable_decision_is_denied(make_app) -> None:
    client, webhook = make_app(StubEngine("allow"))

    def broken(payload: dict[str, Any]) -> Future[int]:
        future: Future[int] = Future()
        future.set_exception(sqlite3.OperationalError("disk I/O error"))
        return future

    webhook.audit.submit = broken
    resp = decide(client, review(ISVC))
    assert resp["allowed"] is False and denied_controls(resp) == ["MLGATE-AUDIT-ERROR"]
    assert "mlgate_audit_write_errors_total 1.0" in webhook.metrics.render().decode()


def test_warnings_are_bounded(make_app) -> None:
    client, _ = make_app(StubEngine("warn"))
    resp = decide(client, review(ISVC))
    assert resp["allowed"] is True
    warnings = resp["warnings"]
    assert len(warnings) <= 20 and all(len(w) <= 120 for w in warnings)
    assert sum(map(len, warnings)) <= 2048
    shown = len(warnings) - 1
    assert warnings[-1] == f"mlgate: {30 - shown} more warning(s); see the decision log"


def test_dry_run_reaches_the_engine_and_the_log(make_app, tmp_path) -> None:
    engine = StubEngine("deny")
    client, _ = make_app(engine)
    resp = decide(client, review(ISVC, dry_run=True))
    assert resp["auditAnnotations"]["dry-run"] == "true"
    assert engine.subjects[0].info.dry_run is True
    assert records(tmp_path / "audit.db")[0]["dry_run"] is True


def test_no_engine_call_for_deletes_and_plain_objects(make_app) -> None:
    engine = StubEngine("deny")
    client, _ = make_app(engine)
    assert decide(client, review(ISVC, operation="DELETE"))["allowed"] is True
    assert decide(client, review(plain_pod()))["allowed"] is True
    assert engine.subjects == []


def test_non_post_and_unknown_paths(make_app) -> None:
    client, _ = make_app(StubEngine())
    assert client.get("/validate").status_code == 405
    assert client.get("/nope").status_code == 404


def test_body_limit_is_configurable(make_app) -> None:
    client, webhook = make_app(StubEngine(), max_body_bytes=1000)
    r = client.post("/validate", content=b"x" * 1001, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert (
        'mlgate_admission_bad_requests_total{status="413"} 1.0' in webhook.metrics.render().decode()
    )


# -- namespace labels from the Kubernetes API ----------------------------------------------------


@pytest.fixture
def kube(tmp_path: Path):
    api = FakeKubeAPI({"ml-dev": {"mlgate.io/environment": "development"}}, token="t0k3n")
    (tmp_path / "token").write_text("t0k3n\n")
    yield api
    api.close()


def test_namespace_labels_are_fetched_cached_and_fail_closed(
    kube: FakeKubeAPI, tmp_path: Path
) -> None:
    results: list[str] = []
    source = KubeNamespaceLabels(
        kube.url, token_file=tmp_path / "token", ca_file=None, ttl_s=0.2, max_stale_s=0.5,
        breaker_threshold=2, breaker_reset_s=60, on_result=results.append,
    )  # fmt: skip
    assert source.get("ml-dev") == {"mlgate.io/environment": "development"}
    assert source.get("ml-dev") == {"mlgate.io/environment": "development"}
    assert kube.calls == 1 and results == ["fetched", "hit"]
    assert source.get("unknown") == {}  # 404: no labels, so production
    kube.up = False
    time.sleep(0.25)
    assert source.get("ml-dev") == {"mlgate.io/environment": "development"}  # stale but recent
    time.sleep(0.3)
    assert source.get("ml-dev") == {}  # too old: production
    calls = kube.calls
    assert source.get("other") == {} and kube.calls == calls  # circuit open: no more calls
    assert results[-3:] == ["stale", "unavailable", "unavailable"]
    source.close()


def test_wrong_token_is_a_failed_lookup(kube: FakeKubeAPI, tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("nope")
    source = KubeNamespaceLabels(kube.url, token_file=tmp_path / "bad", ca_file=None)
    assert source.get("ml-dev") == {}
    source.close()


def test_webhook_uses_namespace_labels_for_the_environment(make_app, kube, tmp_path) -> None:
    engine = StubEngine("allow")
    client, _ = make_app(engine, kube_api=kube.url, kube_token_file=str(tmp_path / "token"))
    decide(client, review(objects("ml-dev")["InferenceService"]))
    decide(client, review(objects("ml-prod")["InferenceService"]))
    assert [s.environment for s in engine.subjects] == ["development", "production"]


# -- parsing and response building ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "depth"),
    [(b"{}", 1), (b'[[{"a": [1]}]]', 4), (b'{"s": "[[[[{{{{"}', 1), (b'{"s": "\\"[["}', 1)],
)
def test_json_depth_ignores_brackets_in_strings(body: bytes, depth: int) -> None:
    assert admission.json_depth(body) == depth


def test_deep_nesting_is_rejected_before_parsing() -> None:
    with pytest.raises(admission.ReviewError) as info:
        admission.parse_review(b'{"a":' * 101 + b"1" + b"}" * 101, max_depth=100)
    assert (info.value.status, info.value.path) == (400, "")
    with pytest.raises(admission.ReviewError) as info:  # at the limit: parsed, then judged
        admission.parse_review(b'{"a":' * 100 + b"1" + b"}" * 100, max_depth=100)
    assert info.value.path == "/apiVersion"


def test_review_response_never_patches_and_cleans_text() -> None:
    out = admission.review_response(
        "u", False, message="line1\nline2\x00", warnings=["a\tb" * 100], audit_annotations={"k": 1}
    )
    resp = out["response"]
    assert out["apiVersion"] == "admission.k8s.io/v1" and "patch" not in resp
    assert resp["status"] == {"code": 403, "message": "line1 line2", "reason": "Forbidden"}
    assert len(resp["warnings"][0]) == 120 and "\t" not in resp["warnings"][0]
    assert resp["auditAnnotations"] == {"k": "1"}


# -- the decision log ------------------------------------------------------------------------------


def test_group_commit_acknowledges_each_record_once_committed(tmp_path: Path) -> None:
    batches: list[int] = []
    writer = AuditWriter(tmp_path / "a.db", on_batch=lambda n, s: batches.append(n))
    futures: list[Future[int]] = []

    def submit(i: int) -> None:
        futures.append(
            writer.submit({"type": "decision", "ts_ns": time.time_ns(), "decision_id": str(i)})
        )

    threads = [
        threading.Thread(target=lambda k=k: [submit(k * 100 + j) for j in range(100)])
        for k in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = sorted(f.result(timeout=10) for f in futures)
    writer.close()
    assert seqs == list(range(1, 801))
    assert sum(batches) == 800 and len(batches) < 800  # several records per fsync
    store = AuditStore(tmp_path / "a.db")
    assert store.verify().ok and store.count() == 800
    store.close()


def test_two_writers_share_one_chain(tmp_path: Path) -> None:
    # uvicorn workers are separate processes with a writer each: BEGIN IMMEDIATE serialises.
    a, b = AuditWriter(tmp_path / "a.db"), AuditWriter(tmp_path / "a.db")
    futures = [
        w.submit({"type": "decision", "ts_ns": time.time_ns(), "decision_id": f"{n}-{i}"})
        for i in range(200)
        for n, w in (("a", a), ("b", b))
    ]
    assert len({f.result(timeout=10) for f in futures}) == 400
    a.close()
    b.close()
    store = AuditStore(tmp_path / "a.db")
    assert store.verify().ok
    store.close()


def test_retention_by_age_anchors_the_cut(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "a.db")
    day = 86_400 * 10**9
    now = time.time_ns()
    store.append(
        [
            {"type": "decision", "ts_ns": now - (10 - i) * day, "decision_id": str(i)}
            for i in range(10)
        ]
    )
    assert store.prune(retention_days=3.5, now_ns=now) == 7
    result = store.verify()
    assert result.ok and result.anchor_seq == 7
    kept = [r.body.get("decision_id") for r in store.records()]
    assert kept == ["7", "8", "9", None]  # the three newest and the checkpoint
    store.close()


def test_masking_modes() -> None:
    hashed = Masker("hash", key=b"k" * 32)
    assert (
        hashed.user("alice@example.com")
        == hashed.user("alice@example.com")
        != Masker("hash", b"x" * 32).user("alice@example.com")
    )
    assert (
        hashed.user("system:serviceaccount:argocd:deployer")
        == "system:serviceaccount:argocd:deployer"
    )
    assert "bob@corp.eu" not in hashed.text("owner bob@corp.eu said so")
    assert Masker("mask").user("alice") == "a***"
    assert Masker("none").user("alice") == "alice"
    assert hashed.scrub({"m": ["x a@b.io"]}) == {"m": [f"x <email {hashed.token('a@b.io')}>"]}


def test_start_up_objects_are_moved_out_of_the_collector(make_app) -> None:
    """A full collection must not scan (and stall requests on) what start-up built."""
    gc.unfreeze()
    try:
        make_app()
        assert gc.get_freeze_count() > 10_000  # modules, the engine, the warmed pool
    finally:
        gc.unfreeze()
