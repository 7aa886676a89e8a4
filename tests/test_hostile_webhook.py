"""Hostile AdmissionReviews against the webhook app (in process, real engine where it matters).

What a deployer controls (the object, its strings, its size, the work it causes) must never
turn into an admission, with or without --fail-open; --fail-open admits only after a fault of
the infrastructure (backend, namespace API, decision log), and then says so.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

import pytest

from mlgate.server import admission
from mlgate.server.admission import ReviewError
from mlgate.server.limits import RequestLimits
from webhook_app_support import FakeKubeAPI, StubEngine, records
from webhook_support import objects, review

ISVC = objects("ml-prod")["InferenceService"]


def post(client: Any, doc: Any) -> Any:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return client.post("/validate", content=body, headers={"content-type": "application/json"})


def answer(client: Any, doc: Any) -> dict[str, Any]:
    r = post(client, doc)
    assert r.status_code == 200, r.text
    return r.json()["response"]


def controls(resp: dict[str, Any]) -> str:
    return resp["auditAnnotations"].get("denied-controls", "")


# -- 1. --fail-open: only infrastructure faults ------------------------------------------------


def test_fail_open_never_admits_a_request_caused_evaluation_error(make_app) -> None:
    client, webhook = make_app(StubEngine("error"), fail_open=True)
    resp = answer(client, review(ISVC))
    assert resp["allowed"] is False and controls(resp) == "MLGATE-EVAL-ERROR"
    assert "mlgate_fail_open_total 0.0" in webhook.metrics.render().decode()


def test_fail_open_admits_an_unreachable_backend(make_app, tmp_path) -> None:
    client, _ = make_app(StubEngine("unavailable"), fail_open=True)
    resp = answer(client, review(ISVC))
    assert resp["allowed"] is True and resp["auditAnnotations"]["fail-open"] == "true"
    assert records(tmp_path / "audit.db")[-1]["fail_open"] is True


def test_unreachable_backend_denies_without_fail_open(make_app) -> None:
    client, _ = make_app(StubEngine("unavailable"))
    resp = answer(client, review(ISVC))
    assert resp["allowed"] is False and controls(resp) == "MLGATE-BACKEND-UNAVAILABLE"


def test_fail_open_never_admits_a_timeout(make_app) -> None:
    client, _ = make_app(StubEngine("allow", delay=1.0), fail_open=True, timeout_s=0.2,
                         audit_timeout_s=0.2)  # fmt: skip
    resp = answer(client, review(ISVC))
    assert resp["allowed"] is False and controls(resp) == "MLGATE-EVAL-ERROR"


def test_fail_open_never_admits_a_request_past_a_limit(make_app) -> None:
    client, _ = make_app(StubEngine("allow"), fail_open=True, max_containers=4)
    deployment = copy.deepcopy(objects("ml-prod")["Deployment"])
    spec = deployment["spec"]["template"]["spec"]
    spec["containers"] = [dict(spec["containers"][0], name=f"c{i}") for i in range(5)]
    resp = answer(client, review(deployment))
    assert resp["allowed"] is False and controls(resp) == "MLGATE-LIMIT-EXCEEDED"
    assert resp["status"]["code"] == 413


def test_fail_open_admits_when_the_namespace_api_is_down(make_app, tmp_path) -> None:
    api = FakeKubeAPI({}, token="t")
    (tmp_path / "token").write_text("t")
    api.up = False
    try:
        kube = {"kube_api": api.url, "kube_token_file": str(tmp_path / "token")}
        closed, _ = make_app(StubEngine("deny"), **kube)
        assert answer(closed, review(ISVC))["allowed"] is False  # judged as production
        opened, _ = make_app(StubEngine("deny"), fail_open=True, **kube)
        resp = answer(opened, review(ISVC))
        assert resp["allowed"] is True and resp["auditAnnotations"]["fail-open"] == "true"
        assert "namespace labels unavailable" in resp["warnings"][0]
    finally:
        api.close()


def test_fail_open_does_not_admit_a_policy_denial_when_labels_are_fine(make_app) -> None:
    client, _ = make_app(StubEngine("deny"), fail_open=True)
    assert answer(client, review(ISVC))["allowed"] is False


@pytest.mark.parametrize("text", ["\\u0000", "a\u0000b"], ids=["six-characters", "nul"])
def test_nul_in_an_annotation_is_denied_even_with_fail_open(make_app, text: str) -> None:
    client, _ = make_app(None, fail_open=True)  # the real engine
    for extra in ({"note": text}, {"mlgate.io/model-digest": text}):
        obj = copy.deepcopy(ISVC)
        obj["metadata"]["annotations"] = extra
        resp = answer(client, review(obj))
        assert resp["allowed"] is False, resp
        assert "fail-open" not in resp["auditAnnotations"]


# -- 2. bounded work ----------------------------------------------------------------------------


def _many_models(n: int) -> dict[str, Any]:
    deployment = copy.deepcopy(objects("ml-prod")["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [w for i in range(n) for w in ("--model", f"s3://m/{i}")]
    return deployment


def test_too_many_model_references_is_a_fast_denial(make_app) -> None:
    engine = StubEngine("allow")
    client, _ = make_app(engine, fail_open=True, max_model_refs=8)
    started = time.monotonic()
    resp = answer(client, review(_many_models(400)))
    assert time.monotonic() - started < 1.0
    assert resp["allowed"] is False and controls(resp) == "MLGATE-LIMIT-EXCEEDED"
    assert "model references" in resp["status"]["message"] and engine.subjects == []


def test_annotation_count_and_size_are_limited(make_app) -> None:
    client, _ = make_app(StubEngine("allow"), max_annotations=10, max_annotation_bytes=1000)
    many = copy.deepcopy(ISVC)
    many["metadata"]["annotations"] = {f"a{i}": "x" for i in range(11)}
    assert "annotations exceed" in answer(client, review(many))["status"]["message"]
    big = copy.deepcopy(ISVC)
    big["spec"]["predictor"]["metadata"] = {"annotations": {"a": "x" * 2000}}
    assert "bytes exceed" in answer(client, review(big))["status"]["message"]


def test_default_limits_hold_the_issue_2000_container_deployment(make_app) -> None:
    limits = RequestLimits()
    deployment = copy.deepcopy(objects("ml-prod")["Deployment"])
    spec = deployment["spec"]["template"]["spec"]
    spec["containers"] = [dict(spec["containers"][0], name=f"c{i}") for i in range(2000)]
    assert limits.check_object(deployment) == "2000 containers exceed the limit of 64 per object"


def test_oversized_body_is_a_recorded_denial_with_its_uid(make_app, tmp_path) -> None:
    client, _ = make_app(StubEngine("allow"), fail_open=True, max_body_bytes=4000)
    obj = copy.deepcopy(ISVC)
    obj["metadata"]["annotations"] = {"pad": "x" * 5000}
    doc = review(obj, uid="big-1")
    body = json.dumps(
        {"kind": doc["kind"], "apiVersion": doc["apiVersion"], "request": doc["request"]}
    ).encode()
    resp = answer(client, body)
    assert resp["uid"] == "big-1" and resp["allowed"] is False
    assert controls(resp) == "MLGATE-LIMIT-EXCEEDED" and resp["status"]["code"] == 413
    assert records(tmp_path / "audit.db")[-1]["uid"] == "big-1"


def test_deadline_stops_a_running_evaluation_between_model_references(make_app) -> None:
    class PerReference(StubEngine):
        def evaluate_subject(self, subject: Any, cancelled: Any = None, **_: Any) -> Any:
            self.evaluated = 0
            for _ref in range(50):
                if cancelled is not None and cancelled():
                    from mlgate.errors import EvaluationCancelled

                    raise EvaluationCancelled("cancelled")
                time.sleep(0.05)
                self.evaluated += 1
            return super().evaluate_subject(subject)

    engine = PerReference("allow")
    client, _ = make_app(engine, timeout_s=0.2, audit_timeout_s=0.1)
    resp = answer(client, review(ISVC))
    assert resp["allowed"] is False
    time.sleep(0.5)
    assert engine.evaluated < 12  # stopped shortly after the 0.3 s deadline, not all 50


def test_one_users_heavy_requests_do_not_delay_or_flip_anothers(make_app) -> None:
    class PerUser(StubEngine):
        def evaluate_subject(self, subject: Any, **kw: Any) -> Any:
            if subject.info.username == "heavy":
                time.sleep(0.6)
            return super().evaluate_subject(subject)

    client, _ = make_app(PerUser("allow"), eval_threads=2, timeout_s=2.0, audit_timeout_s=0.5)
    heavy = {"username": "heavy", "groups": []}
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(answer(client, review(ISVC, user=heavy))))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    time.sleep(0.1)  # the heavy requests hold the queue
    started = time.monotonic()
    light = answer(client, review(ISVC, user={"username": "light", "groups": []}))
    waited = time.monotonic() - started
    for t in threads:
        t.join()
    assert light["allowed"] is True and waited < 0.5


def test_a_full_queue_denies_at_once(make_app) -> None:
    client, webhook = make_app(StubEngine("allow", delay=0.5), fail_open=True, eval_threads=1,
                               max_queue=1, max_queue_per_user=1, timeout_s=3.0)  # fmt: skip
    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(answer(client, review(ISVC))))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [a for a in answers if controls(a) == "MLGATE-OVERLOADED"]
    assert refused and all(a["allowed"] is False for a in refused)
    assert "queue_full" in webhook.metrics.render().decode()


# -- 4. strict parsing --------------------------------------------------------------------------


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda t: t.replace('"replicas": 1', '"replicas": ' + "9" * 5001), "integer of 5001"),
        (lambda t: t.replace('"replicas": 1', '"replicas": 1e999'), "out of range"),
        (lambda t: t.replace('"replicas": 1', '"replicas": NaN'), "NaN"),
        (
            lambda t: t.replace(
                '"operation": "CREATE"', '"operation": "CREATE", "operation": "DELETE"'
            ),
            "duplicate key 'operation'",
        ),
        (
            lambda t: t.replace('"alice@example.com"', '"al\\udc80ice"'),
            "/request/userInfo/username",
        ),
    ],
)
def test_hostile_json_is_a_clear_400(make_app, mutate: Any, where: str) -> None:
    client, _ = make_app(StubEngine("allow"))
    body = mutate(_text(review(objects("ml-prod")["Deployment"])))
    r = post(client, body.encode())
    assert r.status_code == 400, r.text
    assert where in r.json()["error"]


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("kind", "ConfigMap", "/request/object/kind"),
        ("apiVersion", "apps/v1beta1", "/request/object/apiVersion"),
    ],
)
def test_request_kind_must_match_the_object(field: str, value: str, path: str) -> None:
    doc = review(objects("ml-prod")["Deployment"])
    doc["request"]["object"][field] = value
    with pytest.raises(ReviewError) as err:
        admission.parse_review(json.dumps(doc).encode())
    assert err.value.path == path


@pytest.mark.parametrize("request_namespace", ["ml-dev", "", None])
def test_request_namespace_must_match_the_object(request_namespace: str | None) -> None:
    # None: request.namespace absent. The object must not choose its own namespace.
    doc = review(ISVC)
    if request_namespace is None:
        del doc["request"]["namespace"]
    else:
        doc["request"]["namespace"] = request_namespace
    with pytest.raises(ReviewError) as err:
        admission.parse_review(json.dumps(doc).encode())
    assert err.value.status == 400
    assert err.value.path == "/request/object/metadata/namespace"


def test_model_manifest_is_not_accepted_on_validate(make_app, tmp_path) -> None:
    engine = StubEngine("allow")
    client, _ = make_app(engine)
    card = tmp_path / "card.yaml"  # a file on the server's disk that the manifest names
    card.write_text("name: m\nrisk_tier: minimal\n")
    manifest = {
        "apiVersion": "mlgate.io/v1",
        "kind": "ModelManifest",
        "metadata": {"name": "m", "namespace": "ml-prod"},
        "spec": {
            "model": {"name": "m", "uri": "s3://m/x"},
            "environment": "development",
            "deployer": {"username": "root", "groups": ["system:masters"]},
            "cardFile": str(card),
        },
    }
    resp = answer(client, review(manifest))
    assert resp["allowed"] is False and resp["status"]["code"] == 400
    assert controls(resp) == "MLGATE-INPUT-INVALID" and engine.subjects == []


def test_a_lone_surrogate_that_reaches_the_log_is_recorded(tmp_path) -> None:
    from mlgate.audit import AuditStore, Masker
    from mlgate.audit.store import canonical

    store = AuditStore(tmp_path / "a.db")
    store.append(
        [
            {
                "type": "decision",
                "ts_ns": 1,
                "user": Masker("hash").user("al\udc80ice"),
                "x": "\ud800",
            }
        ]
    )
    assert store.verify().ok
    (record,) = list(store.records())
    assert record.body["x"] == "\ud800" and "\\ud800" in canonical(record.body)
    store.close()
