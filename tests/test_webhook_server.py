"""The admission webhook as the API server meets it: a real `mlgate serve` over TLS on loopback.

Every request goes through uvicorn, TLS (verified against the CA from `mlgate certs`), the
AdmissionReview parser, the engine and the decision log, in a separate process.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from error_codes import cli_error
from mlgate.cli.main import main as mlgate_main
from webhook_support import (
    NAMESPACES,
    REPO,
    Server,
    issue_certs,
    metric_value,
    objects,
    plain_pod,
    review,
    signed_annotations,
    wait_for,
)

# Session-scoped fixtures: xdist interleaves other modules' tests with these on a worker, and a
# module-scoped fixture would be built again after each interleaving (once per worker is enough).

KINDS = ["InferenceService", "Model", "Deployment", "StatefulSet", "Job", "Pod"]
# Kubernetes qualified name (the part after the webhook name's '/'): audit annotation keys.
QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issue_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, certs: Path):
    srv = Server(tmp_path_factory.mktemp("server"), certs).start()
    yield srv
    srv.stop()


def response_of(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["apiVersion"] == "admission.k8s.io/v1"
    assert body["kind"] == "AdmissionReview"
    return body["response"]


def check_response_contract(resp: dict[str, Any], uid: str) -> None:
    """What the API server requires of a validating webhook's response."""
    assert resp["uid"] == uid
    assert isinstance(resp["allowed"], bool)
    assert "patch" not in resp and "patchType" not in resp
    if not resp["allowed"]:
        assert resp["status"]["code"] in (400, 403)
        assert resp["status"]["message"]
    warnings = resp.get("warnings", [])
    assert len(warnings) <= 20 and sum(map(len, warnings)) <= 2048
    for w in warnings:
        assert isinstance(w, str) and 0 < len(w) <= 120 and "\n" not in w
    for key, value in resp.get("auditAnnotations", {}).items():
        assert QUALIFIED_NAME.match(key), key
        assert isinstance(value, str)


def controls(resp: dict[str, Any], key: str) -> list[str]:
    raw = resp.get("auditAnnotations", {}).get(key, "")
    return sorted(c for c in raw.split(",") if c)


# -- decisions ----------------------------------------------------------------------------


def check_cli(tmp_path: Path, docs: list[dict[str, Any]], namespace: str, capsys) -> list[dict]:
    """`mlgate check` on the same objects, told the namespace labels the webhook sees."""
    path = tmp_path / f"{namespace}.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    argv = ["check", str(path), "--output", "json", "--user", "alice@example.com"]
    for group in ("ml-platform-deployers", "system:authenticated"):
        argv += ["--group", group]
    for key, value in NAMESPACES[namespace].items():
        argv += ["--namespace-label", f"{key}={value}"]
    capsys.readouterr()
    code = mlgate_main(argv)
    out = capsys.readouterr().out
    assert code in (0, 1), out
    results = json.loads(out)["results"]
    return [r["decision"] for r in sorted(results, key=lambda r: r["document"])]


@pytest.mark.parametrize("namespace", ["ml-prod", "ml-staging"])
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_webhook_and_check_cli_agree(server: Server, tmp_path, capsys, namespace, signed) -> None:
    annotations = signed_annotations() if signed else None
    objs = objects(namespace, annotations)
    expected = check_cli(tmp_path, [objs[k] for k in KINDS], namespace, capsys)
    for kind, decision in zip(KINDS, expected, strict=True):
        doc = review(objs[kind])
        resp = response_of(server.validate(doc))
        check_response_contract(resp, doc["request"]["uid"])
        assert resp["allowed"] == decision["allowed"], (kind, resp, decision)
        assert controls(resp, "denied-controls") == sorted(
            {v["control"] for v in decision["violations"]}
        )
        assert controls(resp, "warned-controls") == sorted(
            {v["control"] for v in decision["warnings"]}
        )
        assert resp["auditAnnotations"]["policy-revision"] == decision["policy_revision"]


@pytest.mark.parametrize("kind", KINDS)
def test_unsigned_model_in_production_is_denied_with_a_concise_reason(server: Server, kind) -> None:
    doc = review(objects("ml-prod")[kind])
    resp = response_of(server.validate(doc))
    check_response_contract(resp, doc["request"]["uid"])
    assert resp["allowed"] is False
    assert resp["status"]["code"] == 403
    message = resp["status"]["message"]
    denied = controls(resp, "denied-controls")
    assert denied and all(c in denied for c in ("SC-SIGNED", "SC-ATTESTED"))
    # Root cause first: the unsigned model's supply-chain finding leads, with its fix.
    assert message.split(": ", 1)[1].startswith("SC-SIGNED")
    assert "SC-SIGNED: model is not signed" in message and ".." not in message
    assert "fix:" in message and resp["auditAnnotations"]["decision-id"] in message
    assert len(message) <= 1024


def test_signed_model_in_staging_is_allowed_and_warn_mode_findings_become_warnings(server) -> None:
    doc = review(objects("ml-staging", signed_annotations())["InferenceService"])
    resp = response_of(server.validate(doc))
    check_response_contract(resp, doc["request"]["uid"])
    assert resp["allowed"] is True, resp
    assert "status" not in resp
    warned = controls(resp, "warned-controls")
    for control in warned:
        assert any(w.startswith(control) for w in resp.get("warnings", []))


def test_long_warnings_are_cut_to_120_characters(server: Server) -> None:
    # A very long name ends up in findings' messages: the webhook still keeps each warning
    # short enough for the API server.
    obj = objects("ml-staging", signed_annotations())["InferenceService"]
    obj["metadata"]["name"] = "m" * 250
    resp = response_of(server.validate(review(obj)))
    check_response_contract(resp, resp["uid"])


@pytest.mark.parametrize(
    "doc",
    [
        review(objects("ml-prod")["InferenceService"], operation="DELETE"),
        review(objects("ml-prod")["Deployment"], operation="DELETE"),
        review(plain_pod()),
        review(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "ml-prod"},
            }
        ),
        review(objects("ml-prod")["Pod"], operation="CONNECT"),
    ],
    ids=["delete-isvc", "delete-deployment", "pod-without-model", "configmap", "connect"],
)
def test_deletes_and_objects_without_models_are_allowed_without_evaluation(server, doc) -> None:
    before = _count(server.audit_db)
    resp = response_of(server.validate(doc))
    check_response_contract(resp, doc["request"]["uid"])
    assert resp["allowed"] is True and "auditAnnotations" not in resp
    assert _count(server.audit_db) == before  # no decision was made, so none is logged


def test_dry_run_is_evaluated_and_marked(server: Server) -> None:
    doc = review(objects("ml-prod")["InferenceService"], dry_run=True)
    resp = response_of(server.validate(doc))
    assert resp["allowed"] is False  # a dry run gets the real answer
    assert resp["auditAnnotations"]["dry-run"] == "true"
    record = _record(server.audit_db, resp["auditAnnotations"]["decision-id"])
    assert record["dry_run"] is True and record["decision"]["dry_run"] is True


def test_every_decision_is_logged_as_one_json_line(server: Server) -> None:
    doc = review(objects("ml-prod")["Model"])
    resp = response_of(server.validate(doc))
    decision_id = resp["auditAnnotations"]["decision-id"]
    lines = [r for r in server.log_records() if r.get("decision_id") == decision_id]
    assert len(lines) == 1
    line = lines[0]
    assert line["uid"] == doc["request"]["uid"] and line["kind"] == "Model"
    assert line["namespace"] == "ml-prod" and line["name"] == "fraud-detector"
    assert line["allowed"] is False and line["controls"] == controls(resp, "denied-controls")
    assert isinstance(line["duration_ms"], float)


def test_a_decision_record_says_where_its_time_went(server: Server) -> None:
    # A slow decision must be explainable from its record: time waiting for a pool thread
    # (a stalled loop or a full pool) against time evaluating (the input itself).
    resp = response_of(server.validate(review(objects("ml-prod")["Model"])))
    record = _record(server.audit_db, resp["auditAnnotations"]["decision-id"])
    stages = record["stages_ms"]
    assert set(stages) == {"queued", "evaluating"}
    assert all(isinstance(v, float) and v >= 0 for v in stages.values())
    assert stages["queued"] + stages["evaluating"] <= record["duration_ms"]


def test_metrics(server: Server) -> None:
    response_of(server.validate(review(objects("ml-prod")["InferenceService"])))
    text = server.metrics()
    assert (
        metric_value(
            text,
            "mlgate_admission_requests_total",
            {"kind": "InferenceService", "operation": "CREATE"},
        )
        >= 1
    )
    assert metric_value(text, "mlgate_decisions_total", {"result": "denied"}) >= 1
    assert metric_value(text, "mlgate_violations_total", {"enforcement": "deny"}) >= 1
    assert metric_value(text, "mlgate_decision_duration_seconds_count") >= 1
    assert 'mlgate_decision_duration_seconds_bucket{le="0.00025"}' in text  # sub-ms buckets
    assert metric_value(text, "mlgate_policy_revision_info") == 1
    for name in (
        "mlgate_evaluation_errors_total", "mlgate_policy_last_reload_timestamp_seconds",
        "mlgate_policy_reload_failures_total", "mlgate_fail_open_total",
    ):  # fmt: skip
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


def test_health_and_readiness(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["revision"].startswith("sha256:")
    assert ready.json()["last_reload_error"] is None


# -- bad input ------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _without_uid(doc: dict[str, Any]) -> dict[str, Any]:
    doc["request"].pop("uid")
    return doc


BAD_BODIES = {
    "invalid-json": (b'{"apiVersion": "admission.k8s.io/v1", "kind": ', 400, "invalid JSON"),
    "not-an-object": (b"[1, 2, 3]", 400, "expected a JSON object"),
    "wrong-api-version": (
        json.dumps({**review(plain_pod()), "apiVersion": "admission.k8s.io/v1beta1"}).encode(),
        400,
        "admissionReviewVersions",
    ),
    "wrong-kind": (json.dumps({**review(plain_pod()), "kind": "Pod"}).encode(), 400, "/kind"),
    "missing-uid": (json.dumps(_without_uid(review(plain_pod()))).encode(), 400, "/request/uid"),
    "uid-not-a-string": (
        json.dumps(_set(review(plain_pod()), ("request", "uid"), 42)).encode(),
        400,
        "/request/uid",
    ),
    "object-is-a-list": (
        json.dumps(_set(review(plain_pod()), ("request", "object"), [1])).encode(),
        400,
        "/request/object",
    ),
    "dry-run-not-bool": (
        json.dumps(_set(review(plain_pod()), ("request", "dryRun"), "yes")).encode(),
        400,
        "/request/dryRun",
    ),
    "groups-not-a-list": (
        json.dumps(
            _set(review(plain_pod()), ("request", "userInfo"), {"groups": "admins"})
        ).encode(),
        400,
        "groups",
    ),
    "bad-operation": (
        json.dumps(_set(review(plain_pod()), ("request", "operation"), "PATCH")).encode(),
        400,
        "operation",
    ),
    "deeply-nested": (_nested(10_000), 400, "nesting"),
    "empty": (b"", 400, "empty"),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_malformed_reviews_get_a_clear_400_and_the_server_stays_up(server: Server, name) -> None:
    body, status, fragment = BAD_BODIES[name]
    r = server.validate(body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]
    ok = review(objects("ml-prod")["InferenceService"])
    assert response_of(server.validate(ok))["uid"] == ok["request"]["uid"]


def test_oversized_body_is_refused_with_413(server: Server) -> None:
    body = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    r = server.validate(body)
    assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]
    # Streamed without Content-Length: cut off at the limit too.
    with server.client() as c:
        r = c.post(
            "/validate", content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
        )
    assert r.status_code == 413
    assert response_of(server.validate(review(plain_pod())))["allowed"] is True


def test_malformed_model_object_is_denied_naming_the_json_path(server: Server) -> None:
    obj = objects("ml-prod")["InferenceService"]
    obj["spec"]["predictor"] = ["not", "a", "mapping"]
    doc = review(obj)
    resp = response_of(server.validate(doc))
    check_response_contract(resp, doc["request"]["uid"])
    assert resp["allowed"] is False and resp["status"]["code"] == 400
    assert "/request/object/spec/predictor" in resp["status"]["message"]
    assert controls(resp, "denied-controls") == ["MLGATE-INPUT-INVALID"]


# -- decision log -----------------------------------------------------------------------------


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM records WHERE type = 'decision'").fetchone()[0]


def _record(db: Path, decision_id: str) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT body FROM records WHERE decision_id = ?", (decision_id,)
        ).fetchone()
    assert row is not None, f"decision {decision_id} not in the log"
    return json.loads(row[0])


def test_personal_data_is_masked_in_the_log(server: Server, capsys) -> None:
    resp = response_of(server.validate(review(objects("ml-prod")["InferenceService"])))
    record = _record(server.audit_db, resp["auditAnnotations"]["decision-id"])
    assert record["user"].startswith("hmac:") and "alice" not in json.dumps(record)
    assert record["groups"] == ["ml-platform-deployers", "system:authenticated"]
    capsys.readouterr()
    assert mlgate_main(["audit", "export", "--db", str(server.audit_db)]) == 0
    assert "alice@example.com" not in capsys.readouterr().out


def test_audit_list_and_verify_cli(server: Server, capsys) -> None:
    response_of(server.validate(review(objects("ml-prod")["Job"])))
    capsys.readouterr()
    assert (
        mlgate_main(
            ["audit", "list", "--db", str(server.audit_db), "--since", "1h", "--output", "jsonl"]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and all("decision_id" in line for line in lines)
    assert mlgate_main(["audit", "list", "--db", str(server.audit_db), "--limit", "3"]) == 0
    assert "SEQ" in capsys.readouterr().out
    assert mlgate_main(["audit", "verify", "--db", str(server.audit_db)]) == 0
    assert "chain intact" in capsys.readouterr().out


def test_acknowledged_decisions_survive_kill_9(tmp_path: Path, certs: Path, capsys) -> None:
    srv = Server(tmp_path / "crash", certs).start()
    stop = time.monotonic() + 30

    def send(i: int) -> str | None:
        if time.monotonic() > stop:
            return None
        try:
            doc = review(objects("ml-prod")[KINDS[i % len(KINDS)]])
            r = srv.validate(doc, timeout=5)
            if r.status_code != 200:
                return None
            annotations = r.json()["response"]["auditAnnotations"]
            # A denial that says the log could not record it (a commit slower than its
            # deadline on a loaded machine) acknowledges no record.
            if "MLGATE-AUDIT-ERROR" in annotations.get("denied-controls", ""):
                return None
            return annotations["decision-id"]
        except (httpx.HTTPError, ValueError, KeyError):
            return None  # the connection died with the server: not acknowledged

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, i) for i in range(400)]
            wait_for(lambda: sum(f.done() for f in futures) >= 60, timeout=30)
            assert srv.proc is not None
            os.kill(srv.proc.pid, signal.SIGKILL)  # mid-stream, no shutdown hooks
            srv.proc.wait()
            acknowledged = [d for f in futures if (d := f.result())]
    finally:
        srv.stop()
    assert 60 <= len(acknowledged) < 400  # killed mid-stream: some requests got no answer
    with sqlite3.connect(srv.audit_db) as conn:
        logged = {row[0] for row in conn.execute("SELECT decision_id FROM records")}
    lost = [d for d in acknowledged if d not in logged]
    assert not lost, f"{len(lost)} acknowledged decisions missing after kill -9"
    capsys.readouterr()
    assert mlgate_main(["audit", "verify", "--db", str(srv.audit_db)]) == 0


@pytest.fixture
def audit_copy(server: Server, tmp_path: Path) -> Path:
    for _ in range(3):
        response_of(server.validate(review(objects("ml-prod")["Pod"])))
    target = tmp_path / "audit.db"
    with sqlite3.connect(server.audit_db) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # a consistent copy while the server keeps writing
    return target


def _verify(db: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = mlgate_main(["audit", "verify", "--db", str(db)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_verify_detects_an_edited_record(audit_copy: Path, capsys) -> None:
    assert _verify(audit_copy, capsys)[0] == 0
    with sqlite3.connect(audit_copy) as conn:
        seq = conn.execute(
            "SELECT seq FROM records WHERE body LIKE '%\"allowed\":false%' LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "UPDATE records SET body = replace(body, '\"allowed\":false', '\"allowed\":true') WHERE seq = ?",
            (seq,),
        )
    code, out = _verify(audit_copy, capsys)
    assert code == 1 and f"record {seq} was modified" in out


def test_verify_detects_a_deleted_record(audit_copy: Path, capsys) -> None:
    with sqlite3.connect(audit_copy) as conn:
        seq = conn.execute("SELECT seq FROM records ORDER BY seq LIMIT 1 OFFSET 1").fetchone()[0]
        conn.execute("DELETE FROM records WHERE seq = ?", (seq,))
    code, out = _verify(audit_copy, capsys)
    assert code == 1 and f"record(s) {seq} deleted" in out


def test_verify_detects_a_truncated_tail(audit_copy: Path, capsys) -> None:
    with sqlite3.connect(audit_copy) as conn:
        conn.execute("DELETE FROM records WHERE seq = (SELECT MAX(seq) FROM records)")
    code, out = _verify(audit_copy, capsys)
    assert code == 1 and "at the end were deleted" in out


def test_retention_keeps_the_chain_verifiable(audit_copy: Path, capsys) -> None:
    capsys.readouterr()
    assert mlgate_main(["audit", "prune", "--db", str(audit_copy), "--max-rows", "3"]) == 0
    assert _count(audit_copy) <= 2
    code, out = _verify(audit_copy, capsys)
    assert code == 0 and "anchored at" in out
    # Forging the anchor (to hide the deletion of more records) is detected.
    with sqlite3.connect(audit_copy) as conn:
        conn.execute("DELETE FROM records WHERE seq = (SELECT MIN(seq) FROM records)")
        conn.execute("UPDATE meta SET value = CAST(value + 1 AS TEXT) WHERE key = 'anchor_seq'")
    assert _verify(audit_copy, capsys)[0] == 1


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mtls_server(tmp_path_factory: pytest.TempPathFactory):
    certs = issue_certs(tmp_path_factory.mktemp("mtls-certs"))
    srv = Server(tmp_path_factory.mktemp("mtls"), certs, client_ca=True).start()
    yield srv
    srv.stop()


def _peer_serial(srv: Server) -> int:
    ctx = ssl.create_default_context(cafile=str(srv.certs / "ca.crt"))
    if srv.client_ca:
        ctx.load_cert_chain(str(srv.certs / "client.crt"), str(srv.certs / "client.key"))
    with (
        socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    from cryptography import x509

    return x509.load_der_x509_certificate(der).serial_number


def test_mtls_requires_a_client_certificate(mtls_server: Server) -> None:
    with mtls_server.client() as c:
        assert c.get("/healthz").status_code == 200
    with (
        pytest.raises(
            (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)
        ),
        mtls_server.client(client_cert=False) as c,
    ):
        c.get("/healthz")


def test_plain_http_is_refused_on_the_tls_port(server: Server) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)


def test_rotated_certificate_is_served_to_new_connections(mtls_server: Server) -> None:
    before = _peer_serial(mtls_server)
    with mtls_server.client() as kept:  # an established connection keeps working
        assert kept.get("/healthz").status_code == 200
        issue_certs(mtls_server.certs, "--reuse-ca")
        after = wait_for(lambda: (s := _peer_serial(mtls_server)) != before and s, timeout=10)
        assert after != before
        assert kept.get("/healthz").status_code == 200
    assert response_of(mtls_server.validate(review(plain_pod())))["allowed"] is True
    assert metric_value(mtls_server.metrics(), "mlgate_tls_reloads_total", {"result": "ok"}) >= 1


def test_serve_refuses_plain_http_without_insecure(capsys) -> None:
    assert cli_error(["serve", "--port", "1"]).code == "serve.no_tls"


# -- hot reload -----------------------------------------------------------------------------------


def test_broken_policy_edit_keeps_the_last_good_set(tmp_path: Path, certs: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    srv = Server(tmp_path / "reload", certs, args=["--policies", str(policies)]).start()
    try:
        with srv.client() as c:
            good = c.get("/readyz").json()["revision"]
            doc = review(objects("ml-prod")["InferenceService"])
            baseline = response_of(srv.validate(doc))
            module = sorted(policies.rglob("*.rego"))[0]
            original = module.read_text()
            module.write_text(original + "\nthis is { not rego\n")
            ready = wait_for(lambda: (r := c.get("/readyz").json())["last_reload_error"] and r)
            assert c.get("/readyz").status_code == 200  # still serving the last good set
            assert ready["revision"] == good and ready["reload_failures"] >= 1
            assert metric_value(srv.metrics(), "mlgate_policy_reload_failures_total") >= 1
            during = response_of(srv.validate(doc))
            assert during["allowed"] == baseline["allowed"]
            assert controls(during, "denied-controls") == controls(baseline, "denied-controls")
            assert during["auditAnnotations"]["policy-revision"] == good

            module.write_text(original + "\n# fixed\n")
            ready = wait_for(lambda: (r := c.get("/readyz").json())["revision"] != good and r)
            assert ready["last_reload_error"] is None
            after = response_of(srv.validate(doc))
            assert after["auditAnnotations"]["policy-revision"] == ready["revision"]
            text = srv.metrics()
            assert (
                metric_value(text, "mlgate_policy_revision_info", {"revision": ready["revision"]})
                == 1
            )
            assert metric_value(text, "mlgate_policy_revision_info", {"revision": good}) == 0
    finally:
        srv.stop()


def test_no_loadable_policy_means_not_ready_and_fail_closed(tmp_path: Path, certs: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    (policies / "controls.yaml").write_text("controls: [\n")
    srv = Server(tmp_path / "broken", certs, args=["--policies", str(policies)]).start(ready=False)
    try:
        with srv.client() as c:
            r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["last_reload_error"]
        resp = response_of(srv.validate(review(objects("ml-prod")["InferenceService"])))
        assert resp["allowed"] is False and controls(resp, "denied-controls") == [
            "MLGATE-EVAL-ERROR"
        ]
        assert response_of(srv.validate(review(plain_pod())))["allowed"] is True
    finally:
        srv.stop()


# -- manifests ------------------------------------------------------------------------------------


def test_manifests_apply_with_kubectl_client_dry_run(tmp_path: Path) -> None:
    from fake_apiserver import FakeDiscovery

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (make system-deps installs it)")
    with FakeDiscovery() as api:
        for target in ("webhook", "webhook/cert-manager"):
            result = subprocess.run(
                [kubectl, "apply", "--dry-run=client", "--validate=false", "-k", target,
                 "--server", api.url, "--insecure-skip-tls-verify", "--kubeconfig", "/dev/null"],
                cwd=REPO, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert (
                "validatingwebhookconfiguration.admissionregistration.k8s.io/mlgate created (dry run)"
                in result.stdout
            )


def test_manifests_are_hardened() -> None:
    docs = list(yaml.safe_load_all(subprocess.run(
        ["kubectl", "kustomize", "webhook"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout)) if shutil.which("kubectl") else [
        d for p in sorted((REPO / "webhook" / "base").glob("*.yaml")) if p.name != "kustomization.yaml"
        for d in yaml.safe_load_all(p.read_text())
    ]  # fmt: skip
    by_kind = {d["kind"]: d for d in docs}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    assert by_kind["Deployment"]["spec"]["replicas"] >= 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["affinity"]["podAntiAffinity"]
    container = pod["containers"][0]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert by_kind["Service"]["spec"]["ports"][0]["port"] == 443
    assert by_kind["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    hook = by_kind["ValidatingWebhookConfiguration"]["webhooks"][0]
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] <= 5
    excluded = next(
        e for e in hook["namespaceSelector"]["matchExpressions"] if e["operator"] == "NotIn"
    )
    assert {"kube-system", "mlgate-system"} <= set(excluded["values"])
    resources = {
        (g, r) for rule in hook["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    for expected in [("serving.kserve.io", "inferenceservices"), ("mlops.seldon.io", "models"),
                     ("apps", "deployments"), ("apps", "statefulsets"), ("batch", "jobs"), ("", "pods")]:  # fmt: skip
        assert expected in resources
    # The --timeout the webhook answers within stays below the API server's timeout.
    timeout = next(a for a in container["args"] if a.startswith("--timeout="))
    assert float(timeout.split("=")[1]) < hook["timeoutSeconds"]
