"""Governance attestations: create, verify, and refuse to release an untrusted predicate."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from error_codes import cli_error, raises_code
from mlgate.cli.main import main
from mlgate.errors import InputError
from mlgate.supplychain.attestation import build_statement, create_attestation, verify_attestation
from mlgate.supplychain.dsse import KeySigner
from mlgate.supplychain.facts import GOVERNANCE_PREDICATE
from mlgate.supplychain.modeldir import model_digest
from mlgate.supplychain.trust import Scope, TrustPolicy
from pki import make_chain, public_pem, write_key

REPO = Path(__file__).resolve().parents[1]
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
PROD = Scope("production", "ml-prod")
CARD = {"name": "churn", "risk": {"tier": "high"}, "owner": {"email": "o@example.com"}}
EVALUATION = {"metrics": {"auc": 0.91}, "drift": {"amount": {"psi": 0.02, "drifted": False}}}
APPROVALS = [
    {"role": "model-owner", "approver": "alice@example.com", "approved_at": "2025-01-02T03:04:05Z"},
    {
        "role": "risk-officer",
        "approver": "bob@example.com",
        "approved_at": "2025-01-02T05:00:00+02:00",
    },
]


def attest(signer: KeySigner, **over: Any) -> bytes:
    fields: dict[str, Any] = {
        "model_name": "churn",
        "model_digest": DIGEST,
        "card": CARD,
        "evaluation": EVALUATION,
        "approvals": APPROVALS,
        "gates": {"metrics": {"passed": True}},
        "model_version": "2.0.0",
        "model_uri": "oci://r.example.com/churn@" + DIGEST,
        "created_at": "2025-01-03T00:00:00Z",
    }
    return create_attestation(signer, **{**fields, **over})


def key_trust(key: ec.EllipticCurvePrivateKey, **authority: Any) -> TrustPolicy:
    return TrustPolicy.from_document(
        {
            "apiVersion": "mlgate.io/v1",
            "kind": "TrustPolicy",
            "authorities": [
                {
                    "name": "pipeline",
                    "purposes": ["attestation"],
                    "key": {"pem": public_pem(key).decode()},
                    **authority,
                }
            ],
        }
    )


@pytest.fixture()
def signer() -> KeySigner:
    return KeySigner.build(ec.generate_private_key(ec.SECP256R1()))


def test_roundtrip_releases_the_predicate(signer: KeySigner) -> None:
    bundle = attest(signer)
    facts = verify_attestation(bundle, DIGEST, key_trust(signer.private_key), PROD)
    assert facts["error"] is None, facts
    assert facts["trusted"] and facts["digest_matches"] and facts["authority"] == "pipeline"
    assert facts["predicate_type"] == GOVERNANCE_PREDICATE
    predicate = facts["predicate"]
    assert predicate["card"] == CARD and predicate["evaluation"] == EVALUATION
    assert predicate["approvals"][1]["approved_at"] == "2025-01-02T03:00:00Z"  # normalised UTC
    assert predicate["model"] == {
        "name": "churn",
        "version": "2.0.0",
        "uri": "oci://r.example.com/churn@" + DIGEST,
        "uris": ["oci://r.example.com/churn@" + DIGEST],
    }
    assert predicate["gates"] == {"metrics": {"passed": True}}
    assert predicate["created_at"] == "2025-01-03T00:00:00Z"
    json.dumps(facts)  # plain JSON all the way down


def test_statement_shape(signer: KeySigner) -> None:
    envelope = json.loads(attest(signer))["dsseEnvelope"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "churn", "digest": {"sha256": "ab" * 32}}]
    assert statement["predicateType"] == "https://mlgate.io/governance/v1"


def test_certificate_signed_attestation(tmp_path: Path) -> None:
    pki = make_chain(tmp_path / "pki", "promotion")
    signer = KeySigner.from_files(pki["key"], [pki["leaf"], pki["int"]])
    trust = TrustPolicy.from_document(
        {
            "apiVersion": "mlgate.io/v1",
            "kind": "TrustPolicy",
            "authorities": [
                {
                    "name": "corp-ca",
                    "purposes": ["attestation"],
                    "certificate": {
                        "ca": [{"path": str(pki["root"])}],
                        "identities": [{"subject": "promotion@example.com"}],
                    },
                }
            ],
        }
    )
    facts = verify_attestation(attest(signer), DIGEST, trust, PROD)
    assert facts["trusted"] and facts["method"] == "certificate" and facts["predicate"]


def test_subject_digest_mismatch_withholds_predicate(signer: KeySigner) -> None:
    facts = verify_attestation(attest(signer), OTHER, key_trust(signer.private_key), PROD)
    assert facts["authority"] == "pipeline" and not facts["digest_matches"]
    assert not facts["trusted"] and facts["predicate"] == {}
    assert facts["error"].startswith("subject digest mismatch")


def test_untrusted_identity_withholds_predicate(signer: KeySigner) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    facts = verify_attestation(attest(signer), DIGEST, key_trust(stranger), PROD)
    assert not facts["verified"] and facts["predicate"] == {}
    assert "unknown public key" in facts["error"]


def test_model_signing_key_cannot_attest(signer: KeySigner) -> None:
    # right key, wrong purpose: a model signer may not vouch for governance evidence
    trust = key_trust(signer.private_key, purposes=["model"])
    facts = verify_attestation(attest(signer), DIGEST, trust, PROD)
    assert facts["verified"] and not facts["trusted"] and facts["predicate"] == {}
    assert facts["error"].startswith("untrusted identity sha256:")
    assert (
        "for attestation signatures in environment=production namespace=ml-prod" in facts["error"]
    )


def test_scope_limits_trust(signer: KeySigner) -> None:
    trust = key_trust(signer.private_key, scope={"environments": ["prod*"], "namespaces": ["ml-*"]})
    bundle = attest(signer)
    assert verify_attestation(bundle, DIGEST, trust, PROD)["trusted"]
    assert not verify_attestation(bundle, DIGEST, trust, Scope("production", "default"))["trusted"]
    assert not verify_attestation(bundle, DIGEST, trust, Scope("staging", "ml-prod"))["trusted"]


def test_model_signature_is_not_an_attestation(tmp_path: Path, signer: KeySigner) -> None:
    from mlgate.supplychain.modeldir import sign_model
    from pki import make_model

    model = make_model(tmp_path / "m")
    write_key(tmp_path / "k.pem")
    bundle = sign_model(model, key=tmp_path / "k.pem").read_bytes()
    key = KeySigner.from_files(tmp_path / "k.pem").private_key
    facts = verify_attestation(bundle, model_digest(model), key_trust(key), PROD)
    assert facts["predicate"] == {}
    assert facts["error"].startswith(
        "unexpected predicate type 'https://model_signing/signature/v1.0' for a attestation"
    )


@pytest.mark.parametrize(
    ("override", "code", "location"),
    [
        ({"model_digest": "sha256:xyz"}, "attestation.bad_digest", None),
        ({"model_digest": "md5:" + "a" * 32}, "attestation.bad_digest", None),
        ({"model_name": ""}, "attestation.no_model_name", None),
        ({"card": ["not", "a", "mapping"]}, "attestation.not_a_mapping", "card"),
        ({"approvals": {"role": "x"}}, "attestation.not_a_list", "approvals"),
        ({"approvals": [{"role": "owner", "approver": "a"}]}, "attestation.missing_field",
         "approvals[0]"),
        ({"approvals": [{"role": "owner", "approver": "a", "approved_at": "yesterday"}]},
         "time.not_rfc3339", "approvals[0].approved_at"),
        ({"approvals": [{"role": "owner", "approver": "a", "approved_at": "2025-01-01T00:00:00"}]},
         "time.no_zone", "approvals[0].approved_at"),
        ({"evaluation": {"bad": {1, 2}}}, "attestation.not_json", None),
        ({"evaluation": {"nan": float("nan")}}, "attestation.not_json", None),
    ],
)  # fmt: skip
def test_invalid_inputs(override: dict[str, Any], code: str, location: str | None) -> None:
    fields: dict[str, Any] = {
        "model_name": "m",
        "model_digest": DIGEST,
        "card": {},
        "evaluation": {},
        "approvals": [],
    }
    with raises_code(InputError, code, location=location):
        build_statement(**{**fields, **override})


def test_cli_attest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = write_key(tmp_path / "k.pem")
    (tmp_path / "card.yaml").write_text("name: churn\nrisk: {tier: high}\n")
    (tmp_path / "evidence.json").write_text(json.dumps(EVALUATION))
    (tmp_path / "approvals.yaml").write_text(
        "approvals:\n  - {role: owner, approver: a@x.io, approved_at: 2025-01-01T00:00:00Z}\n"
    )
    out = tmp_path / "att.json"
    args = [
        "attest", "--model-digest", DIGEST, "--model-name", "churn",
        "--card", str(tmp_path / "card.yaml"), "--evidence", str(tmp_path / "evidence.json"),
        "--approvals", str(tmp_path / "approvals.yaml"), "--key", str(tmp_path / "k.pem"),
        "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    facts = verify_attestation(out.read_bytes(), DIGEST, key_trust(key), PROD)
    assert facts["trusted"] and facts["predicate"]["card"]["risk"] == {"tier": "high"}
    assert facts["predicate"]["approvals"][0]["approved_at"] == "2025-01-01T00:00:00Z"

    (tmp_path / "approvals.yaml").write_text("- {role: owner, approver: a@x.io}\n")
    err = cli_error(args)
    assert (err.code, err.location) == (
        "attestation.missing_field",
        f"{tmp_path / 'approvals.yaml'}: approvals[0]",
    )
    (tmp_path / "card.yaml").write_text("name: [unclosed\n")
    err = cli_error(args)
    assert (err.code, err.location) == ("yaml.invalid", f"{tmp_path / 'card.yaml'}:2")
    (tmp_path / "card.yaml").write_text("name: churn\n")
    (tmp_path / "approvals.yaml").write_text("approvals: []\n")
    err = cli_error([*args[:-2], "--out", str(out), "--model-digest", "nope"])
    assert err.code == "attestation.bad_digest"


def test_examples_are_current_and_verify() -> None:
    """The committed demo signatures and attestation verify with the shipped trust policy."""
    from mlgate.supplychain.verifier import SupplyChainVerifier

    check = subprocess.run(
        [sys.executable, str(REPO / "examples" / "keys" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    verifier = SupplyChainVerifier.from_policy_dir(REPO / "policies")
    model = REPO / "examples" / "models" / "fraud-detector"
    annotations = {
        "mlgate.io/signature": base64.b64encode((model / "model.sig").read_bytes()).decode(),
        "mlgate.io/attestation": base64.b64encode(
            (REPO / "examples" / "attestations" / "fraud-detector.intoto.json").read_bytes()
        ).decode(),
    }
    facts = verifier.facts(annotations, model_digest(model), PROD)
    assert facts["signature"]["error"] is None and facts["signature"]["trusted"]
    assert facts["signature"]["authority"] == "demo-model-signer"
    assert facts["attestation"]["error"] is None
    assert facts["attestation"]["authority"] == "demo-promotion-pipeline"
    assert facts["attestation"]["predicate"]["card"]["model_details"]["name"] == "fraud-detector"
