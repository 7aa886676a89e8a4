"""The webhook sees every documented serving shape, and enforces declared-model namespaces."""

from __future__ import annotations

import pytest
import yaml
from fastapi.testclient import TestClient

from mlgate.server.app import create_app
from mlgate.server.config import ServerConfig
from serving_shapes import SHAPES, UNRESOLVED

LABELS = {
    "ml-prod": {"mlgate.io/environment": "production", "mlgate.io/enforce": "true"},
    "strict": {
        "mlgate.io/environment": "production",
        "mlgate.io/enforce": "true",
        "mlgate.io/require-declared-models": "true",
    },
}
WEB = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "strict"},
       "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("webhook")
    labels = tmp / "namespaces.yaml"
    labels.write_text(yaml.safe_dump(LABELS))
    config = ServerConfig(
        audit_db=str(tmp / "audit.db"),
        reload_interval_s=0,
        eval_threads=2,
        namespace_labels_file=str(labels),
        timeout_s=30,
    )
    with TestClient(create_app(config)) as c:
        yield c


def validate(client: TestClient, obj: dict) -> dict:
    group, _, version = obj["apiVersion"].rpartition("/")
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": "x"},
            "namespace": obj["metadata"].get("namespace", ""),
            "name": obj["metadata"]["name"],
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["mlops-release-managers"]},
            "object": obj,
        },
    }
    r = client.post("/validate", json=body)
    assert r.status_code == 200, r.text
    return r.json()["response"]


SAMPLE = [s for s in SHAPES if s[0] in {
    "vllm-deployment-shell", "kserve-huggingface-model-id", "leaderworkerset-vllm",
    "ray-service-llm", "seldon-v1-deployment", "vllm-ephemeral-container", "kserve-modelmesh",
}]  # fmt: skip


@pytest.mark.parametrize(("shape", "obj", "uris"), SAMPLE, ids=[s[0] for s in SAMPLE])
def test_unsigned_documented_shapes_are_denied_by_the_webhook(client, shape, obj, uris) -> None:
    resp = validate(client, obj)
    assert resp["allowed"] is False
    assert resp["auditAnnotations"]["denied-controls"].split(",")[0] != "MLGATE-EVAL-ERROR"
    assert "SC-SIGNED" in resp["auditAnnotations"]["denied-controls"]


@pytest.mark.parametrize(("shape", "obj"), UNRESOLVED[:3], ids=[s[0] for s in UNRESOLVED[:3]])
def test_unresolvable_models_are_denied_by_the_webhook(client, shape, obj) -> None:
    resp = validate(client, obj)
    assert resp["allowed"] is False
    assert "SC-MODEL-RESOLVED" in resp["auditAnnotations"]["denied-controls"].split(",")


def test_declared_models_namespace(client) -> None:
    denied = validate(client, WEB)
    assert denied["allowed"] is False
    assert "SC-MODEL-DECLARED" in denied["auditAnnotations"]["denied-controls"].split(",")
    declared = {
        **WEB,
        "metadata": {**WEB["metadata"], "annotations": {"mlgate.io/model-uri": "none"}},
    }
    assert validate(client, declared)["allowed"] is True
    elsewhere = {**WEB, "metadata": {**WEB["metadata"], "namespace": "ml-prod"}}
    assert validate(client, elsewhere)["allowed"] is True
