"""Issue 9 against a real `mlgate serve` over TLS: every fact names the model deployed.

Each attack is an AdmissionReview a deployer could send; each must be denied with a control
id and a message naming the mismatch. A signed, attested, correctly bound model with a
pod-start verifier is still allowed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sqlite3
from typing import Any

import pytest

from webhook_support import (
    ATTESTED_URI,
    MODELS_RO,
    POD_NAMESPACE,
    RELEASE_BOT,
    VERIFIER,
    Server,
    credit_scorer_attestation,
    denied_controls,
    deployment_of,
    issue_certs,
    kserve_verified_policies,
    review,
    verifier_container,
    warned_controls,
)

# Session-scoped fixtures: xdist interleaves other modules' tests with these on a worker, and a
# module-scoped fixture would be built again after each interleaving (once per worker is enough).

KSERVE_SA = "system:serviceaccount:kserve:kserve-controller-manager"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped policies, with the verifying ClusterStorageContainer declared installed."""
    work = tmp_path_factory.mktemp("binding")
    policies = kserve_verified_policies(work / "policies")
    srv = Server(work, issue_certs(work / "certs"), args=["--policies", str(policies)]).start()
    yield srv
    srv.stop()


def isvc(annotations: dict[str, str], uri: str = ATTESTED_URI, **extra: Any) -> dict[str, Any]:
    predictor: dict[str, Any] = {"model": {"modelFormat": {"name": "onnx"}, "storageUri": uri}}
    predictor.update(extra.pop("predictor", {}))
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "credit", "namespace": "ml-prod", "annotations": dict(annotations)},
        "spec": {"predictor": predictor, **extra},
    }


def deployment(
    annotations: dict[str, str],
    uri: str,
    *,
    init: list[dict[str, Any]] | None = None,
    namespace: str = "ml-prod",
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "credit-llm", "namespace": namespace}
    if owner:
        meta["ownerReferences"] = [owner]
    server: dict[str, Any] = {
        # An ONNX server, not an LLM runtime: an LLM runtime would (rightly) also need the
        # Art. 50 disclosure the credit scorer's card does not have (issue 10).
        "name": "server",
        "image": "registry.example/ml/onnx-server:1.4",
        "args": ["--model", uri],
    }
    spec: dict[str, Any] = {"containers": [server]}
    if init:
        # Pod-start verification: the server reads the verified copy of `uri`, read-only.
        spec["initContainers"] = init
        spec["volumes"] = [{"name": "models", "emptyDir": {}}]
        server["args"] = ["--model", "/models"]
        server["volumeMounts"] = [dict(MODELS_RO)]
        for step in init:
            step["args"] = [uri if a == "$(URI)" else a for a in step["args"]]
    return deployment_of(meta, spec, annotations)


def verifier(expect: str, image: str = VERIFIER) -> dict[str, Any]:
    """The verifier image's entry point; $(URI) becomes the deployment's model URI."""
    return verifier_container(expect, "$(URI)", image=image)


def decide(
    server: Server, obj: dict[str, Any], user: dict[str, Any] = RELEASE_BOT, **kw: Any
) -> dict:
    return server.decide(obj, user=user, **kw)


# -- the approved model is still allowed -------------------------------------------------


def test_bound_model_on_kserve_is_allowed(server: Server, credit_evidence: dict[str, str]) -> None:
    resp = decide(server, isvc(credit_evidence))
    assert resp["allowed"] is True, resp


def test_kserve_is_not_assumed_to_verify_by_default(
    shipped_server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    resp = decide(shipped_server, isvc(credit_evidence))
    assert resp["allowed"] is False and denied_controls(resp) == ["SC-POD-START-VERIFY"]
    uri = f"oci://registry.example.com/models/credit-scorer@{credit_digest}"
    assert decide(shipped_server, isvc(credit_evidence, uri))["allowed"] is True


def test_bound_model_with_a_pod_start_verifier_is_allowed(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    resp = decide(server, deployment(credit_evidence, ATTESTED_URI, init=[verifier(credit_digest)]))
    assert resp["allowed"] is True, resp


def test_content_addressed_reference_needs_no_verifier(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    uri = f"oci://registry.example.com/models/credit-scorer@{credit_digest}"
    resp = decide(server, deployment(credit_evidence, uri))
    assert resp["allowed"] is True, resp


# -- copied annotations ------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "s3://other-bucket/credit-scorer/0.9.2",
        "s3://ml-models-prod/credit-scorer/0.9.3",
        "gs://ml-models-prod/credit-scorer/0.9.2",
        "pvc://models/credit-scorer",
        "https://models.example.com/credit-scorer.tar.gz",
        "hf://org/model",
    ],
)
def test_copied_annotations_on_another_uri_are_denied(
    server: Server, credit_evidence: dict[str, str], uri: str
) -> None:
    resp = decide(server, isvc(credit_evidence, uri))
    assert resp["allowed"] is False
    assert "SC-URI-BOUND" in denied_controls(resp)
    # The whole explanation is in the decision log (the status message shows the first
    # violation only, and which one is first among equals does not depend on the engine).
    record = server.decision_record(resp)
    assert f"expected {uri}, attested " in record
    assert "registry.example.com/models/credit-scorer@sha256:" in record


def test_uri_normalisation_does_not_count_as_a_mismatch(
    server: Server, credit_evidence: dict[str, str]
) -> None:
    resp = decide(server, isvc(credit_evidence, "S3://ml-models-prod/credit-scorer/0.9.2/"))
    assert "SC-URI-BOUND" not in denied_controls(resp), resp


def test_digest_inside_the_uri_must_be_the_declared_digest(
    server: Server, credit_evidence: dict[str, str]
) -> None:
    uri = "oci://registry.example.com/models/credit-scorer@sha256:" + "0" * 64
    resp = decide(server, isvc(credit_evidence, uri))
    assert resp["allowed"] is False
    assert {"SC-URI-DIGEST", "SC-URI-BOUND"} <= set(denied_controls(resp))


# -- one set of annotations does not cover several models --------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"predictor": {"storageUris": [{"uri": "s3://other/extra-model"}]}},
        {"transformer": {"storageUri": "s3://other/transformer"}},
        {"explainer": {"model": {"storageUri": "s3://other/explainer"}}},
    ],
    ids=["storageUris", "transformer", "explainer"],
)
def test_a_second_model_does_not_ride_along(
    server: Server, credit_evidence: dict[str, str], extra: dict[str, Any]
) -> None:
    resp = decide(server, isvc(credit_evidence, **copy.deepcopy(extra)))
    assert resp["allowed"] is False
    assert "SC-SIGNED" in denied_controls(resp)
    assert "mlgate.io/models" in server.decision_record(resp)


def test_a_second_container_does_not_ride_along(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    obj = deployment(credit_evidence, ATTESTED_URI, init=[verifier(credit_digest)])
    obj["spec"]["template"]["spec"]["containers"].append(
        {"name": "sidecar", "image": "vllm/vllm-openai:v0.6.3", "args": ["--model", "s3://x/y"]}
    )
    resp = decide(server, obj)
    assert resp["allowed"] is False and "SC-SIGNED" in denied_controls(resp)


def test_per_reference_evidence_in_mlgate_models_is_allowed(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    entry = {
        "digest": credit_digest,
        "signature": credit_evidence["mlgate.io/signature"],
        "attestation": credit_evidence["mlgate.io/attestation"],
    }
    second = "s3://ml-models-prod/credit-scorer/0.9.2-shadow"
    annotations = {"mlgate.io/models": json.dumps({"predictor": entry})}
    resp = decide(server, isvc(annotations, predictor={"storageUris": [{"uri": second}]}))
    # The predictor is bound; the storageUris entry is not, and is reported on its own.
    assert resp["allowed"] is False
    assert "[predictor/storageUris/0]" in json.dumps(resp) or "SC-SIGNED" in denied_controls(resp)
    annotations = {"mlgate.io/models": json.dumps({"predictor": entry, ATTESTED_URI: entry})}
    resp = decide(server, isvc(annotations))
    assert resp["allowed"] is True, resp


def test_malformed_models_annotation_is_a_clear_input_error(server: Server) -> None:
    resp = decide(server, isvc({"mlgate.io/models": "{not json"}))
    assert resp["allowed"] is False
    assert resp["status"]["code"] == 400
    assert "mlgate.io~1models" in resp["status"]["message"]


# -- mutable references need pod-start verification --------------------------------------


@pytest.mark.parametrize(
    "uri",
    ["s3://ml-models-prod/credit-scorer/0.9.2", "oci://registry.example.com/models/x:latest",
     "hf://org/model", "org/model"],
)  # fmt: skip
def test_mutable_reference_without_verifier_is_denied_in_production(
    server: Server, credit_evidence: dict[str, str], uri: str
) -> None:
    resp = decide(server, deployment(credit_evidence, uri))
    assert resp["allowed"] is False
    assert "SC-POD-START-VERIFY" in denied_controls(resp)


def test_mutable_reference_without_verifier_warns_in_staging(
    server: Server, credit_evidence: dict[str, str]
) -> None:
    resp = decide(server, deployment(credit_evidence, ATTESTED_URI, namespace="ml-staging"))
    assert "SC-POD-START-VERIFY" in warned_controls(resp)
    assert "SC-POD-START-VERIFY" not in denied_controls(resp)


@pytest.mark.parametrize(
    ("expect", "image", "needle"),
    [
        ("sha256:" + "1" * 64, VERIFIER, "not the admitted digest"),
        (None, "busybox:1.36", "not a configured verifier image"),
    ],
)
def test_a_verifier_must_be_real_and_name_the_admitted_digest(
    server: Server, credit_evidence: dict[str, str], credit_digest: str, expect: str | None, image: str,
    needle: str,
) -> None:  # fmt: skip
    resp = decide(
        server,
        deployment(credit_evidence, ATTESTED_URI, init=[verifier(expect or credit_digest, image)]),
    )
    assert resp["allowed"] is False
    assert "SC-POD-START-VERIFY" in denied_controls(resp)
    assert needle in resp["status"]["message"]


def test_verifier_digest_from_the_downward_api(
    server: Server, credit_evidence: dict[str, str]
) -> None:
    init = {
        **verifier("$(EXPECT)"),
        "env": [{"name": "EXPECT", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['mlgate.io/model-digest']"}}}, POD_NAMESPACE],
    }  # fmt: skip
    resp = decide(server, deployment(credit_evidence, ATTESTED_URI, init=[init]))
    assert resp["allowed"] is True, resp


# -- controller children and housekeeping updates -----------------------------------------

OWNER = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "name": "credit",
    "uid": "6f1c0b4e",
    "controller": True,
}
CONTROLLER = {"username": KSERVE_SA, "groups": ["system:serviceaccounts", "system:authenticated"]}


def test_controller_child_is_judged_on_its_model_not_the_controller(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    child = deployment(credit_evidence, ATTESTED_URI, init=[verifier(credit_digest)], owner=OWNER)
    resp = decide(server, child, user=CONTROLLER)
    assert resp["allowed"] is True, resp


def test_controller_child_with_another_model_is_denied(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    child = deployment(
        credit_evidence, "s3://other/model", init=[verifier(credit_digest)], owner=OWNER
    )
    resp = decide(server, child, user=CONTROLLER)
    assert resp["allowed"] is False
    assert "SC-URI-BOUND" in denied_controls(resp)
    assert "ACCESS-DEPLOYER" not in denied_controls(resp)


def test_an_owner_reference_does_not_make_a_person_a_controller(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    child = deployment(credit_evidence, ATTESTED_URI, init=[verifier(credit_digest)], owner=OWNER)
    user = {"username": "mallory", "groups": ["data-scientists"]}
    resp = decide(server, child, user=user)
    assert resp["allowed"] is False and "ACCESS-DEPLOYER" in denied_controls(resp)


def test_housekeeping_update_is_allowed_and_recorded(server: Server) -> None:
    old = isvc({}, "s3://unsigned/model")  # no longer compliant
    old["metadata"]["finalizers"] = ["serving.kserve.io/inferenceservice-finalizer"]
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = []
    new["metadata"]["labels"] = {"team": "risk"}
    doc = review(new, operation="UPDATE", user=RELEASE_BOT)
    doc["request"]["oldObject"] = old
    resp = server.validate(doc).json()["response"]
    assert resp["allowed"] is True
    decision_id = resp["auditAnnotations"]["decision-id"]
    with sqlite3.connect(server.audit_db) as conn:
        bodies = [row[0] for row in conn.execute("SELECT body FROM records")]
    record = next(json.loads(b) for b in bodies if decision_id in b)
    assert "housekeeping" in json.dumps(record)


def test_update_that_changes_the_model_is_evaluated(
    server: Server, credit_evidence: dict[str, str]
) -> None:
    old = isvc(credit_evidence)
    new = isvc(credit_evidence, "s3://other-bucket/model")
    doc = review(new, operation="UPDATE", user=RELEASE_BOT)
    doc["request"]["oldObject"] = old
    resp = server.validate(doc).json()["response"]
    assert resp["allowed"] is False and "SC-URI-BOUND" in denied_controls(resp)


# -- attestation freshness ----------------------------------------------------------------


def _attestation(credit_digest: str, created_at: dt.datetime) -> str:
    return credit_scorer_attestation(credit_digest, [ATTESTED_URI], created_at)


@pytest.mark.parametrize(
    ("delta", "needle"), [(dt.timedelta(days=2), "dated in the future"), (-dt.timedelta(days=400), "days old")]
)  # fmt: skip
def test_stale_or_future_attestation_is_denied(
    server: Server,
    credit_evidence: dict[str, str],
    credit_digest: str,
    delta: dt.timedelta,
    needle: str,
) -> None:
    created = dt.datetime.now(dt.UTC) + delta
    annotations = {**credit_evidence, "mlgate.io/attestation": _attestation(credit_digest, created)}
    resp = decide(server, isvc(annotations))
    assert resp["allowed"] is False
    assert "SC-ATTESTATION-FRESH" in denied_controls(resp)
    assert needle in json.dumps(resp)


def kserve_child(credit_evidence: dict[str, str], source: str) -> dict[str, Any]:
    """The predictor Deployment the KServe controller makes: ISVC annotations propagated."""
    annotations = {
        **credit_evidence,
        "internal.serving.kserve.io/storage-initializer-sourceuri": source,
        "serving.kserve.io/deploymentMode": "RawDeployment",
    }
    container = {
        "name": "kserve-container",
        "image": "kserve/sklearnserver:v0.14.1",
        "args": ["--model_name=credit", "--model_dir=/mnt/models", "--http_port=8080"],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "credit-predictor",
            "namespace": "ml-prod",
            "annotations": dict(credit_evidence),
            "ownerReferences": [OWNER],
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "credit-predictor"}},
            "template": {
                "metadata": {"labels": {"app": "credit-predictor"}, "annotations": annotations},
                "spec": {"containers": [container]},
            },
        },
    }


def test_kserve_controller_deployment_for_an_admitted_isvc_is_allowed(
    server: Server, credit_evidence: dict[str, str]
) -> None:
    resp = decide(server, kserve_child(credit_evidence, ATTESTED_URI), user=CONTROLLER)
    assert resp["allowed"] is True, resp


def test_kserve_controller_deployment_with_another_model_is_denied(
    server: Server, credit_evidence: dict[str, str]
) -> None:
    resp = decide(server, kserve_child(credit_evidence, "s3://other/model"), user=CONTROLLER)
    assert resp["allowed"] is False
    assert "SC-URI-BOUND" in denied_controls(resp)
    assert "ACCESS-DEPLOYER" not in denied_controls(resp)


def test_argo_rollouts_replicaset_is_judged_on_its_model(
    server: Server, credit_evidence: dict[str, str], credit_digest: str
) -> None:
    owner = {**OWNER, "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}
    rs = deployment(credit_evidence, ATTESTED_URI, init=[verifier(credit_digest)], owner=owner)
    rs["kind"] = "ReplicaSet"
    argo = {"username": "system:serviceaccount:argo-rollouts:argo-rollouts", "groups": []}
    assert decide(server, rs, user=argo)["allowed"] is True
    rs["spec"]["template"]["spec"]["containers"][0]["args"] = ["--model", "s3://other/model"]
    resp = decide(server, rs, user=argo)
    assert resp["allowed"] is False and "SC-URI-BOUND" in denied_controls(resp)


@pytest.mark.parametrize(
    ("revision", "pinned"), [("main", False), ("0123456789abcdef0123456789abcdef01234567", True)]
)
def test_a_branch_revision_is_mutable_and_a_commit_is_not(
    server: Server, credit_evidence: dict[str, str], revision: str, pinned: bool
) -> None:
    obj = deployment(credit_evidence, "org/credit-llm")
    obj["spec"]["template"]["spec"]["containers"][0]["args"] += ["--revision", revision]
    resp = decide(server, obj)
    assert resp["allowed"] is False  # the attestation names neither form of this model
    assert ("SC-POD-START-VERIFY" in denied_controls(resp)) is not pinned
    uri = "hf://org/credit-llm" + (f"@{revision}" if pinned else "")
    assert f"expected {uri}, attested " in resp["status"]["message"]
