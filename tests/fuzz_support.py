"""Hypothesis strategies for hostile Kubernetes objects and AdmissionReviews.

Shared by the property tests (tests/test_fuzz_*.py) and `make fuzz` (bench/fuzz_webhook.py):
random JSON shaped like the objects adapters read (their keys, model URIs, server flags),
and byte-level mutations of well-formed reviews.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# The registry before it exposed (group, versions) per adapter: kinds only.
_LEGACY_API_VERSIONS = {
    "InferenceService": "serving.kserve.io/v1beta1",
    "Model": "mlops.seldon.io/v1alpha1",
    "ModelManifest": "mlgate.io/v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Pod": "v1",
}


def adapter_targets() -> list[tuple[str, str]]:
    """(apiVersion, kind) for every adapter the subjects registry exposes, new ones included."""
    import mlgate.subjects as subjects

    adapters = getattr(subjects, "ADAPTERS", None)
    if adapters:
        out = {(f"{a.group}/{v}" if a.group else v, a.kind) for a in adapters for v in a.versions}
        out.add((_LEGACY_API_VERSIONS["ModelManifest"], "ModelManifest"))
        return sorted(out)
    return sorted((_LEGACY_API_VERSIONS[k], k) for k in subjects.supported_kinds())


KEYS = [
    "predictor", "transformer", "explainer", "model", "models", "storageUri", "storage", "uri",
    "modelFormat", "runtime", "containers", "initContainers", "template", "spec", "metadata",
    "annotations", "args", "command", "image", "env", "name", "value", "jobTemplate",
    "workerSpec", "leaderWorkerTemplate", "rayClusterSpec", "headGroupSpec", "workerGroupSpecs",
    "replicas", "volumes", "volumeMounts", "path", "requirements", "serviceName",
]  # fmt: skip
URIS = [
    "s3://models/m/v1", "hf://org/model", "oci://reg/m@sha256:" + "a" * 64, "pvc://claim/m",
    "gs://b/m", "https://example.com/m", "", "s3://", "\u0000", "sha256:" + "0" * 64,
]  # fmt: skip
WORDS = ["--model", "--model-repository", "--model=s3://m/x", "serve", "vllm", "tritonserver"]

# Strings as an attacker writes them: control characters, lone surrogates, long runs.
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(URIS + WORDS),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Co"]), max_size=5),
    st.builds(lambda c, n: c * n, st.sampled_from('a\u0000\\"/'), st.integers(0, 3000)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6
        ),
    ),
    max_leaves=40,
)
annotations = st.dictionaries(
    st.one_of(
        st.sampled_from(
            [
                "mlgate.io/model-digest",
                "mlgate.io/signature",
                "mlgate.io/attestation",
                "mlgate.io/signature-ref",
                "mlgate.io/model-uri",
                "mlgate.io/break-glass",
            ]
        ),
        st.text(max_size=10),
    ),
    hostile_text,
    max_size=6,
)


@st.composite
def k8s_objects(draw: st.DrawFn, target: tuple[str, str] | None = None) -> dict[str, Any]:
    api_version, kind = target if target is not None else draw(st.sampled_from(adapter_targets()))
    metadata: dict[str, Any] = {
        "name": draw(st.text(min_size=1, max_size=12)),
        "namespace": "ml-prod",
    }
    if draw(st.booleans()):
        metadata["annotations"] = draw(annotations)
    if draw(st.booleans()):
        metadata["labels"] = draw(
            st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)
        )
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    obj["spec"] = draw(
        st.one_of(json_values, st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5))
    )
    return obj


def review_of(obj: dict[str, Any], operation: str = "CREATE", uid: str = "fuzz") -> dict[str, Any]:
    group, _, version = obj["apiVersion"].rpartition("/")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "operation": operation,
            "namespace": obj.get("metadata", {}).get("namespace", ""),
            "name": obj.get("metadata", {}).get("name", ""),
            "userInfo": {"username": "fuzz@example.com", "groups": ["ml-platform-deployers"]},
            "object": obj,
        },
    }


def dumps(doc: Any) -> bytes:
    """JSON as a hostile client may send it: lone surrogates kept as escapes."""
    return json.dumps(doc, ensure_ascii=True).encode()


@st.composite
def mutated_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """Byte-level damage to a well-formed body: cut, splice, flip, duplicate a key."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "dup-key", "big-int"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(
                st.sampled_from([b"{", b"]", b'"', b"\\u0000", b"\\ud800", b",", b"null"])
            )
        elif op == "dup-key":
            data = bytearray(
                bytes(data).replace(b'"operation":', b'"operation":"DELETE","operation":', 1)
            )
        else:
            data[at:at] = b"9" * draw(st.integers(19, 6000))
    return bytes(data)
