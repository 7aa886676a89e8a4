"""`mlgate scan` against the real API server, on objects created before the webhook existed.

conftest creates the legacy-prod objects right after the CRDs, before mlgate is installed: a
signed credit scorer, an unsigned copy, an unsigned vLLM Deployment (whose ReplicaSet and Pod
the controller manager then makes), a plain nginx Deployment and a KServe ServingRuntime with
a tagged image (served at v1alpha1, not at the group's preferred v1beta1), and a core v1
Service in front of the nginx Deployment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from e2e.conftest import LEGACY_JUDGED, LEGACY_NAMESPACE
from e2e.webhook import wait_until

NS = LEGACY_NAMESPACE
ISVC_PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices"
RUNTIME_PATH = f"/apis/serving.kserve.io/v1alpha1/namespaces/{NS}/servingruntimes"
JUDGED = LEGACY_JUDGED


def _scan(cluster, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "mlgate.cli.main", "scan",
         "--kubeconfig", str(cluster.endpoints.admin_kubeconfig), *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _children_exist(cluster) -> bool:  # type: ignore[no-untyped-def]
    pods = json.loads(cluster.kubectl.ok("get", "pods", "-n", NS, "-o", "json"))["items"]
    return len(pods) >= 2  # chatbot's and web's


def test_scan_lists_and_judges_existing_objects(cluster):
    assert wait_until(lambda: _children_exist(cluster), timeout_s=60)
    proc = _scan(cluster, "--namespace", NS, "--output", "json")
    assert proc.returncode == 1, proc.stderr  # something is denied
    doc = json.loads(proc.stdout)
    by_name = {(r["kind"], r["name"]): r for r in doc["results"]}
    assert {k: r["decision"]["allowed"] for k, r in by_name.items()} == JUDGED
    signed = by_name["InferenceService", "credit-scorer"]
    assert signed["file"] == f"{ISVC_PATH}/credit-scorer"
    assert signed["decision"]["allowed"] is True
    assert signed["decision"]["subject"]["environment"] == "production"
    # Who deployed it is unknown: the access control is set aside, and the report says so.
    assert any("ACCESS-DEPLOYER" in n for n in signed["decision"]["notes"])
    unsigned = by_name["InferenceService", "credit-scorer-unsigned"]["decision"]
    assert unsigned["allowed"] is False
    assert "SC-SIGNED" in {v["control"] for v in unsigned["violations"]}
    chatbot = by_name["Deployment", "chatbot"]["decision"]
    assert chatbot["allowed"] is False
    assert "SC-SIGNED" in {v["control"] for v in chatbot["violations"]}
    # A kind served at a non-preferred version of its group (KServe's v1alpha1 kinds) is read.
    runtime = by_name["ServingRuntime", "triton-tagged"]
    assert runtime["file"] == f"{RUNTIME_PATH}/triton-tagged"
    assert {v["control"] for v in runtime["decision"]["violations"]} == {"SC-RUNTIME-PINNED"}
    skipped = {(s["kind"], s["name"]): s["reason"] for s in doc["skipped"]}
    assert skipped["Deployment", "web"] == "carries no model reference"
    owned = [r for (kind, _), r in skipped.items() if kind in ("ReplicaSet", "Pod")]
    assert len(owned) >= 4 and all(r.startswith("controlled by ") for r in owned)
    # The cluster serves every kind the adapters read (make crds installs each CRD), each at a
    # version the adapter reads, so none is reported missing. A kind it did not serve would be
    # listed with the reason (tests/test_scan_report.py); Knative's Service is not the core one.
    assert doc["kinds_not_served"] == [], doc["kinds_not_served"]
    # Kinds are matched by group and kind: web's core v1 Service is not Knative's Service.
    assert ("Service", "web") not in skipped and ("Service", "web") not in by_name
    assert doc["summary"] == {
        "objects": 4, "evaluated": 4, "skipped": len(doc["skipped"]),
        "allowed": 1, "denied": 3, "warnings": 0,
    }  # fmt: skip


def test_scan_with_an_identity_judges_access(cluster):
    proc = _scan(cluster, "-n", NS, "-o", "json", "--user", "eve", "--group", "interns")
    results = {r["name"]: r["decision"] for r in json.loads(proc.stdout)["results"]}
    controls = {v["control"] for v in results["credit-scorer"]["violations"]}
    assert controls == {"ACCESS-DEPLOYER"}
    allowed = _scan(cluster, "-n", NS, "-o", "json", "--group", "mlops-release-managers")
    results = {r["name"]: r["decision"] for r in json.loads(allowed.stdout)["results"]}
    assert results["credit-scorer"]["allowed"] is True


def test_scan_table_junit_and_sarif(cluster):
    # The table lists the same verdicts as the JSON: one line per evaluated object, each
    # skipped object with its reason (the `mlgate check` renderers, cli/output.py).
    table = _scan(cluster, "-n", NS, "--color", "never")
    assert table.returncode == 1
    verdicts = {}
    for line in table.stdout.splitlines():
        verdict, _, rest = line.partition("  ")
        if verdict in ("ALLOWED", "DENIED"):
            kind, name = rest.split("  ", 1)[0].split("/")
            verdicts[kind, name] = verdict == "ALLOWED"
    assert verdicts == JUDGED
    assert (
        f"SKIPPED  Deployment/web  (/apis/apps/v1/namespaces/{NS}/deployments/web:1): "
        "carries no model reference"
    ) in table.stdout.splitlines()

    junit = ET.fromstring(_scan(cluster, "-n", NS, "-o", "junit").stdout)
    failures = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    assert len(failures) == sum(not allowed for allowed in JUDGED.values())
    sarif = json.loads(_scan(cluster, "-n", NS, "-o", "sarif").stdout)
    rules = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert "SC-SIGNED" in rules


def test_scan_writes_policy_reports_and_removes_stale_ones(cluster):
    from kubernetes import client

    proc = _scan(cluster, "-n", NS, "-o", "json", "--policy-report")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "PolicyReports: 4 written, 0 stale deleted"
    api = client.CustomObjectsApi(cluster.api_client(admin=True))

    def reports() -> dict[str, dict]:
        items = api.list_namespaced_custom_object(
            "wgpolicyk8s.io", "v1alpha2", NS, "policyreports",
            label_selector="app.kubernetes.io/managed-by=mlgate",
        )["items"]  # fmt: skip
        return {r["scope"]["name"]: r for r in items}

    found = reports()
    assert set(found) == {"credit-scorer", "credit-scorer-unsigned", "chatbot", "triton-tagged"}
    unsigned = found["credit-scorer-unsigned"]
    uid = json.loads(
        cluster.kubectl.ok(
            "get", "inferenceservice", "credit-scorer-unsigned", "-n", NS, "-o", "json"
        )
    )["metadata"]["uid"]
    assert unsigned["metadata"]["name"] == f"mlgate-{uid}"
    assert unsigned["scope"] == {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "name": "credit-scorer-unsigned", "namespace": NS, "uid": uid,
    }  # fmt: skip
    assert unsigned["summary"]["fail"] >= 1 and unsigned["summary"]["pass"] == 0
    sc = [r for r in unsigned["results"] if r["policy"] == "SC-SIGNED"]
    assert sc and sc[0]["result"] == "fail" and sc[0]["severity"] == "critical"
    assert sc[0]["source"] == "mlgate"
    passed = found["credit-scorer"]
    assert passed["summary"] == {"pass": 1, "fail": 0, "warn": 0, "error": 0, "skip": 0}

    # The unsigned one is removed: the next scan deletes its report.
    cluster.kubectl.ok("delete", "inferenceservice", "credit-scorer-unsigned", "-n", NS)
    again = _scan(cluster, "-n", NS, "-o", "json", "--policy-report")
    assert again.stderr.strip() == "PolicyReports: 3 written, 1 stale deleted"
    assert set(reports()) == {"credit-scorer", "chatbot", "triton-tagged"}
