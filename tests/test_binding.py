"""Issue 9 pieces below the webhook: URI normalisation, mlgate.io/models, pod-start steps,
single-file models, certificate anchors and the annotations the CLI prints."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from error_codes import cli_error, raises_code
from mlgate.cli.main import main
from mlgate.errors import InputError
from mlgate.subjects import RequestInfo, subject_from_object
from mlgate.subjects.base import content_addressed, normalize_uri
from mlgate.supplychain.modeldir import model_digest, sign_model, verify_model_dir
from mlgate.supplychain.trust import Scope
from mlgate.supplychain.trustload import single_authority_policy
from pki import make_chain, make_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCOPE = Scope("production", "default")
D1, D2 = "sha256:" + "a" * 64, "sha256:" + "b" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"
MODELS_PATH = "/x/metadata/annotations/mlgate.io~1models"  # the annotation, as a JSON path


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("S3://bucket/models/x/", "s3://bucket/models/x"),  # scheme only: buckets keep case
        ("hf://org/model", "org/model"),
        ("https://huggingface.co/org/model", "hf://org/model"),
        (f"hf://org/model:{COMMIT}", f"org/model@{COMMIT}"),
        (f"https://huggingface.co/org/model/tree/{COMMIT}", f"hf://org/model@{COMMIT}"),
        ("oci://Registry.example.com/m@" + D1, "oci://registry.example.com/m@" + D1),
    ],
)
def test_equivalent_uris_normalise_alike(left: str, right: str) -> None:
    assert normalize_uri(left) == normalize_uri(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("s3://bucket/Models/x", "s3://bucket/models/x"),  # object keys are case-sensitive
        ("hf://org/model", f"hf://org/model@{COMMIT}"),
        ("s3://a/b", "gs://a/b"),
        ("hf://org/model", "hf://org/model-2"),
    ],
)
def test_different_uris_stay_different(left: str, right: str) -> None:
    assert normalize_uri(left) != normalize_uri(right)


@pytest.mark.parametrize(
    ("uri", "pinned"),
    [
        ("oci://r.example.com/m@" + D1, True),
        (f"hf://org/model@{COMMIT}", True),
        (f"org/model:{COMMIT}", True),
        ("oci://r.example.com/m:latest", False),
        ("hf://org/model", False),
        ("hf://org/model@main", False),
        ("s3://a/b", False),
        ("pvc://vol/path", False),
    ],
)
def test_content_addressed_references(uri: str, pinned: bool) -> None:
    assert content_addressed(uri) is pinned


def _isvc(annotations: dict[str, str]) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "m", "namespace": "ns", "annotations": annotations},
        "spec": {
            "predictor": {
                "model": {"modelFormat": {"name": "onnx"}, "storageUri": "s3://a/predictor"},
                "storageUris": [{"uri": "s3://a/lora"}],
            }
        },
    }


def test_models_annotation_binds_by_component_and_by_uri() -> None:
    models = {"predictor": {"digest": D1, "signature-ref": "p.sig"}, "S3://a/lora/": {"digest": D2}}
    subject = subject_from_object(_isvc({"mlgate.io/models": json.dumps(models)}), RequestInfo())
    assert subject is not None
    refs = {m.component: m for m in subject.models}
    assert refs["predictor"].annotations == {
        "mlgate.io/model-digest": D1,
        "mlgate.io/signature-ref": "p.sig",
    }
    assert refs["predictor/storageUris/0"].annotations == {"mlgate.io/model-digest": D2}
    assert {m.evidence for m in subject.models} == {"reference"}


def test_object_wide_annotations_bind_only_a_single_model() -> None:
    subject = subject_from_object(_isvc({"mlgate.io/model-digest": D1}), RequestInfo())
    assert subject is not None
    assert all(m.annotations == {} and m.evidence == "none" for m in subject.models)
    single = _isvc({"mlgate.io/model-digest": D1})
    del single["spec"]["predictor"]["storageUris"]
    subject = subject_from_object(single, RequestInfo())
    assert subject is not None
    assert [m.annotations for m in subject.models] == [{"mlgate.io/model-digest": D1}]


@pytest.mark.parametrize(
    ("value", "code", "entry"),
    [
        ("{oops", "models.not_json", ""),
        ("[]", "models.not_an_object", ""),
        ('{"predictor": "sha256:x"}', "models.entry_not_an_object", "['predictor']"),
        ('{"predictor": {"digests": "x"}}', "models.unknown_field", "['predictor']"),
        ('{"predictor": {"digest": 5}}', "models.not_a_string", "['predictor'].digest"),
    ],
)
def test_malformed_models_annotation_names_the_problem(value: str, code: str, entry: str) -> None:
    with pytest.raises(InputError) as err:
        subject_from_object(_isvc({"mlgate.io/models": value}), RequestInfo(), where="/x")
    assert err.value.code == code
    # The JSON path of the annotation, then the entry and field within it.
    assert err.value.location == MODELS_PATH + entry


def _pod(init: list[dict], annotations: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "annotations": annotations},
        "spec": {
            "initContainers": init,
            "containers": [{"name": "srv", "image": "vllm/vllm-openai:v0.6.3",
                            "args": ["--model", "s3://a/predictor"]}],
        },
    }  # fmt: skip


def test_pod_start_steps_resolve_the_digest_the_pod_will_check() -> None:
    models = json.dumps({"s3://a/predictor": {"digest": D2}})
    init = [
        {"name": "flag", "image": "ghcr.io/mlgate/mlgate-verifier@" + D1,
         "command": ["mlgate", "verify"], "args": ["--expect-digest=" + D1, "--model-dir=/m"]},
        {"name": "env", "image": "ghcr.io/mlgate/mlgate-verifier:1", "args": ["--model-dir", "/m"],
         "env": [{"name": "MLGATE_EXPECT_DIGEST", "valueFrom": {"fieldRef": {
             "fieldPath": "metadata.annotations['mlgate.io/model-digest']"}}}]},
        {"name": "csc", "image": "ghcr.io/mlgate/mlgate-verifier:1",
         "args": ["s3://a/predictor", "/mnt/models"],
         "env": [{"name": "MLGATE_MODELS", "value": models}]},
        {"name": "unrelated", "image": "busybox", "args": ["sh", "-c", "true"]},
    ]  # fmt: skip
    subject = subject_from_object(_pod(init, {"mlgate.io/model-digest": D1}), RequestInfo())
    assert subject is not None
    steps = {s["container"]: s for s in subject.verifiers}
    assert set(steps) == {"flag", "env", "csc"}
    assert steps["flag"]["expect_digest"] == D1 and steps["flag"]["image_pinned"] is True
    assert steps["flag"]["image_repository"] == "ghcr.io/mlgate/mlgate-verifier"
    assert steps["env"]["expect_digest"] == D1
    assert steps["csc"]["expect_digest"] == D2 and steps["csc"]["source_uri"] == "s3://a/predictor"


def test_an_unresolvable_variable_names_no_digest() -> None:
    init = [{"name": "v", "image": "ghcr.io/mlgate/mlgate-verifier:1",
             "args": ["--expect-digest", "$(NOPE)"], "command": ["mlgate", "verify"]}]  # fmt: skip
    subject = subject_from_object(_pod(init, {}), RequestInfo())
    assert subject is not None
    assert subject.verifiers[0]["expect_digest"] is None


# -- single-file models ------------------------------------------------------------------


def test_single_file_model_sign_verify_digest_and_model_signing_interop(tmp_path: Path) -> None:
    from model_signing import hashing, verifying

    from pki import write_key

    key = write_key(tmp_path / "k.pem")
    from cryptography.hazmat.primitives import serialization

    pub = tmp_path / "k.pub"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(range(200)))
    sig = sign_model(model, key=tmp_path / "k.pem")
    assert sig == tmp_path / "tiny.gguf.sig"
    trust = single_authority_policy(key_pem=pub.read_bytes())
    result = verify_model_dir(
        model, sig.read_bytes(), trust, SCOPE, expect_digest=model_digest(model)
    )
    assert result.ok, result.message
    verifying.Config().use_elliptic_key_verifier(public_key=pub).set_hashing_config(
        hashing.Config()
    ).verify(model, sig)
    model.write_bytes(b"GGUF" + bytes(range(199)))
    result = verify_model_dir(model, sig.read_bytes(), trust, SCOPE)
    assert not result.ok and "modified" in result.message
    assert main(["verify", str(model), "--key", str(pub)]) == 1


# -- certificate anchors -----------------------------------------------------------------


def test_only_a_root_anchors_a_certificate_chain(tmp_path: Path, capsys) -> None:
    pki = make_chain(tmp_path / "pki")
    model = make_model(tmp_path / "model")
    sig = sign_model(model, key=pki["key"], cert_chain=[pki["leaf"], pki["int"]])
    with raises_code(InputError, "trust.no_root"):
        single_authority_policy(ca_pems=[pki["int"].read_bytes()])
    assert (
        cli_error(["verify", str(model), "--cert-chain", str(pki["int"])]).code == "trust.no_root"
    )
    # The root together with the intermediate: the intermediate is not an anchor.
    trust = single_authority_policy(ca_pems=[pki["root"].read_bytes(), pki["int"].read_bytes()])
    assert [c.subject.rfc4514_string() for c in trust.authorities[0].ca_certs] == [
        "CN=test-root-ca"
    ]
    assert verify_model_dir(model, sig.read_bytes(), trust, SCOPE).ok
    # Explicitly trusting the intermediate works, and only then.
    argv = ["verify", str(model), "--cert-chain", str(pki["int"]), "--allow-intermediate-anchor"]
    assert main(argv) == 0


# -- the pod-start verifier CLI ----------------------------------------------------------


def test_verify_storage_uri_takes_the_digest_from_mlgate_models(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    model = EXAMPLES / "models" / "credit-scorer"
    digest = model_digest(model)
    policies = str(EXAMPLES.parent / "policies")
    base = ["verify", "--model-dir", str(model), "--policies", policies]
    monkeypatch.setenv("MLGATE_MODELS", json.dumps({"s3://bucket/credit/": {"digest": digest}}))
    assert main([*base, "--storage-uri", "s3://bucket/credit"]) == 0
    monkeypatch.setenv("MLGATE_MODELS", json.dumps({"s3://bucket/credit": {"digest": D1}}))
    capsys.readouterr()
    assert main([*base, "--storage-uri", "s3://bucket/credit", "--json"]) == 1
    facts = json.loads(capsys.readouterr().out)
    assert (facts["declared_digest"], facts["subject_digest"]) == (D1, digest)
    assert facts["digest_matches"] is False and facts["trusted"] is False
    monkeypatch.setenv("MLGATE_MODELS", "{}")
    assert main([*base, "--storage-uri", "s3://bucket/credit"]) == 2  # no digest: not "ok"
    monkeypatch.delenv("MLGATE_MODELS")
    monkeypatch.setenv("MLGATE_SIGNATURE", base64.b64encode(b"{}").decode())
    assert main([*base, "--expect-digest", digest]) == 1


def test_sign_and_attest_print_the_annotations_to_paste(tmp_path: Path, capsys) -> None:
    model = make_model(tmp_path / "model")
    key = EXAMPLES / "keys" / "model-signing.key.pem"
    argv = ["sign", str(model), "--key", str(key), "--model-uri", "s3://b/m"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    digest = model_digest(model)
    assert f'mlgate.io/model-digest: "{digest}"' in out
    assert "mlgate.io/signature: " in out
    line = next(x for x in out.splitlines() if x.startswith("mlgate.io/models: "))
    entry = json.loads(json.loads(line.split(": ", 1)[1]))
    assert entry["s3://b/m"]["digest"] == digest and entry["s3://b/m"]["signature"]
    inputs = EXAMPLES / "attestations" / "credit-scorer"
    argv = [
        "attest", "--model-digest", digest, "--model-name", "m", "--model-uri", "s3://b/m",
        "--card", str(inputs / "card.yaml"), "--evidence", str(inputs / "evidence.json"),
        "--approvals", str(inputs / "approvals.yaml"),
        "--key", str(EXAMPLES / "keys" / "promotion-pipeline.key.pem"),
        "--out", str(tmp_path / "att.json"),
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mlgate.io/attestation: " in out and "s3://b/m" in out


@pytest.mark.parametrize(
    ("args", "uri", "pinned"),
    [
        (["--model", "org/model", "--revision", COMMIT], f"hf://org/model@{COMMIT}", True),
        (["--model", "hf://org/model", f"--revision={COMMIT}"], f"hf://org/model@{COMMIT}", True),
        # A hub id is read as hf:// (issue 10: not an image); a branch pins nothing.
        (["--model", "org/model", "--revision", "main"], "hf://org/model", False),
        (["--model", "org/model"], "hf://org/model", False),
    ],
)
def test_a_commit_revision_pins_a_hugging_face_model(
    args: list[str], uri: str, pinned: bool
) -> None:
    obj = _pod([], {})
    obj["spec"]["containers"][0]["args"] = args
    subject = subject_from_object(obj, RequestInfo())
    assert subject is not None
    assert [m.uri for m in subject.models] == [uri]
    assert content_addressed(subject.models[0].uri) is pinned
