"""Real signatures from real signers (../shared/vectors, read in place, never copied in).

Every positive model-signing vector verifies offline with mlgate's verifier (signature only,
and against the files), the legacy v0.2 format is flagged, and the Sigstore vectors behave
as sigstore-python's own test-suite says they must, with the trust roots mlgate builds from
the assets embedded in the sigstore package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.cli.main import main
from mlgate.supplychain.facts import LEGACY_MODEL_PREDICATE, MODEL_PREDICATE
from mlgate.supplychain.modeldir import model_digest, verify_model_dir
from mlgate.supplychain.signature import verify_bundle
from mlgate.supplychain.sigstore_roots import builtin_trusted_root
from mlgate.supplychain.trust import Scope, TrustPolicy

VECTORS = Path(
    os.environ.get("MLGATE_VECTORS", Path(__file__).resolve().parents[2] / "shared" / "vectors")
)
MS = VECTORS / "model-signing"
SS = VECTORS / "sigstore"
KEYS = MS / "keys"
SCOPE = Scope("production", "ml-prod")
IBM = {"subject": "stefanb@us.ibm.com", "issuer": "https://sigstore.verify.ibm.com/oauth2"}

if not (MS / "keys" / "ca-cert.pem").is_file() or not (SS / "bundle.txt").is_file():
    pytest.skip(f"signature vectors not found at {VECTORS}", allow_module_level=True)

# folder -> (method, timestamp source)
POSITIVE = {
    "v1.1.0-elliptic-key": ("key", "none"),
    "v1.0.1-elliptic-key": ("key", "none"),
    "v1.1.0-certificate": ("certificate", "none"),
    "v1.0.1-certificate": ("certificate", "none"),
    "v1.1.0-sigstore": ("keyless", "rfc3161"),
    "v1.0.1-sigstore": ("keyless", "rekor"),
}


def _doc(*authorities: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "mlgate.io/v1", "kind": "TrustPolicy", "authorities": list(authorities)}


@pytest.fixture(scope="module")
def trust() -> TrustPolicy:
    return TrustPolicy.from_document(
        _doc(
            {
                "name": "vector-key",
                "purposes": ["model"],
                "key": {"path": str(KEYS / "signing-key-pub.pem")},
            },
            {
                "name": "vector-ca",
                "purposes": ["model"],
                "certificate": {"ca": [{"path": str(KEYS / "ca-cert.pem")}]},
            },
            {
                "name": "ibm-keyless",
                "purposes": ["model"],
                "keyless": {"trust_root": "production", "identities": [IBM]},
            },
        )
    )


def statement_of(bundle: bytes) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(bundle)["dsseEnvelope"]["payload"]))


def subject_digest(folder: str) -> str:
    bundle = (MS / folder / "model.sig").read_bytes()
    return "sha256:" + statement_of(bundle)["subject"][0]["digest"]["sha256"]


@pytest.mark.parametrize("folder", sorted(POSITIVE))
def test_positive_vector_signature_only(trust: TrustPolicy, folder: str) -> None:
    method, timestamp = POSITIVE[folder]
    bundle = (MS / folder / "model.sig").read_bytes()
    facts = verify_bundle(bundle, subject_digest(folder), trust, SCOPE)
    assert facts["error"] is None, facts
    assert facts["verified"] and facts["trusted"] and facts["digest_matches"]
    assert facts["method"] == method
    assert facts["timestamp_source"] == timestamp
    assert facts["predicate_type"] == MODEL_PREDICATE
    assert not facts["legacy"]
    assert facts["bundle_digest"] == "sha256:" + hashlib.sha256(bundle).hexdigest()
    if method == "keyless":
        assert (facts["identity"], facts["issuer"]) == (IBM["subject"], IBM["issuer"])
        assert facts["authority"] == "ibm-keyless"


@pytest.mark.parametrize("folder", sorted(POSITIVE))
def test_positive_vector_files(trust: TrustPolicy, folder: str) -> None:
    bundle = (MS / folder / "model.sig").read_bytes()
    result = verify_model_dir(
        MS / folder,
        bundle,
        trust,
        SCOPE,
        expect_digest=subject_digest(folder),
        ignore=["ignore-me"],
    )
    assert result.ok, result.message


def test_digest_equals_signature_subject() -> None:
    folder = MS / "v1.1.0-elliptic-key"
    expected = subject_digest("v1.1.0-elliptic-key")
    assert model_digest(folder, ["ignore-me"]) == expected
    # the subject of the v1.0 predicate: sha256 over the resource digests, in order
    resources = statement_of((folder / "model.sig").read_bytes())["predicate"]["resources"]
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    assert expected == f"sha256:{root}"


def test_cli_digest_matches_vector(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", str(MS / "v1.1.0-elliptic-key"), "--ignore", "ignore-me"]) == 0
    assert capsys.readouterr().out.strip() == subject_digest("v1.1.0-elliptic-key")


def test_legacy_v020_is_flagged(trust: TrustPolicy) -> None:
    bundle = (MS / "v0.2.0-certificate" / "model.sig").read_bytes()
    some_digest = subject_digest("v1.1.0-certificate")
    facts = verify_bundle(bundle, some_digest, trust, SCOPE)
    assert facts["verified"]  # cryptographically fine...
    assert facts["legacy"] and facts["predicate_type"] == LEGACY_MODEL_PREDICATE
    assert facts["subject_digest"] is None and not facts["digest_matches"]  # ...but unbound
    assert "legacy model-signing format" in facts["error"]
    # The files still check out, but a pod-start check that needs a digest refuses it.
    folder = MS / "v0.2.0-certificate"
    assert verify_model_dir(folder, bundle, trust, SCOPE).ok
    assert not verify_model_dir(folder, bundle, trust, SCOPE, expect_digest=some_digest).ok


def test_cli_verifies_vectors(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--ignore", "ignore-me"]
    folder = MS / "v1.1.0-elliptic-key"
    assert main(["verify", str(folder), "--key", str(KEYS / "signing-key-pub.pem"), *common]) == 0
    folder = MS / "v1.1.0-certificate"
    assert main(["verify", str(folder), "--cert-chain", str(KEYS / "ca-cert.pem"), *common]) == 0
    folder = MS / "v1.1.0-sigstore"
    keyless = ["--identity", IBM["subject"], "--issuer", IBM["issuer"]]
    assert main(["verify", str(folder), *keyless, *common]) == 0
    assert main(["verify", str(folder), "--identity-regex", r"[a-z]+@us\.ibm\.com",
                 "--issuer", IBM["issuer"], *common]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["verify", str(folder), "--identity", "mallory@example.com",
                 "--issuer", IBM["issuer"], *common, "--json"]) == 1  # fmt: skip
    facts = json.loads(capsys.readouterr().out)
    # The signature verifies, but its signer is not the one trusted.
    assert (facts["verified"], facts["trusted"]) == (True, False)
    assert facts["identity"] == IBM["subject"] and facts["issuer"] == IBM["issuer"]


# --- negatives ----------------------------------------------------------------------------


def test_tampered_file_is_rejected(tmp_path: Path, trust: TrustPolicy) -> None:
    model = tmp_path / "model"
    shutil.copytree(MS / "v1.1.0-certificate", model)
    (model / "signme-1").chmod(0o644)
    (model / "signme-1").write_bytes(b"tampered\n")
    bundle = (model / "model.sig").read_bytes()
    result = verify_model_dir(model, bundle, trust, SCOPE, ignore=["ignore-me"])
    assert not result.ok and "modified files: signme-1" in result.message
    # the signature itself is intact: admission (signature only) cannot see file tampering,
    # which is why the pod-start check exists
    assert verify_bundle(bundle, subject_digest("v1.1.0-certificate"), trust, SCOPE)["trusted"]


def test_wrong_identity_is_rejected() -> None:
    trust = TrustPolicy.from_document(
        _doc(
            {
                "name": "someone-else",
                "purposes": ["model"],
                "keyless": {
                    "identities": [{"subject": "mallory@example.com", "issuer": IBM["issuer"]}]
                },
            }
        )
    )
    bundle = (MS / "v1.1.0-sigstore" / "model.sig").read_bytes()
    facts = verify_bundle(bundle, subject_digest("v1.1.0-sigstore"), trust, SCOPE)
    assert facts["verified"] and not facts["trusted"] and facts["authority"] is None
    assert facts["error"] == (
        "untrusted identity stefanb@us.ibm.com (issuer https://sigstore.verify.ibm.com/oauth2)"
        " for model signatures in environment=production namespace=ml-prod"
    )


def test_wrong_key_is_rejected() -> None:
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    trust = TrustPolicy.from_document(
        _doc({"name": "other", "purposes": ["model"], "key": {"pem": pem}})
    )
    for folder in ("v1.1.0-elliptic-key", "v1.0.1-elliptic-key"):  # with and without key hint
        bundle = (MS / folder / "model.sig").read_bytes()
        facts = verify_bundle(bundle, subject_digest(folder), trust, SCOPE)
        assert not facts["verified"] and not facts["trusted"]
        assert facts["error"] in (
            "signed by an unknown public key sha256:"
            "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e",
            "signature does not verify with any configured public key",
        )
        assert facts["subject_digest"] is None  # nothing is read from an unverified payload


def test_swapped_digest_is_rejected(trust: TrustPolicy) -> None:
    bundle = (MS / "v1.1.0-certificate" / "model.sig").read_bytes()
    other = subject_digest("v1.1.0-elliptic-key")
    facts = verify_bundle(bundle, other, trust, SCOPE)
    assert facts["verified"] and facts["authority"] == "vector-ca"  # right signer...
    assert not facts["trusted"] and not facts["digest_matches"]  # ...wrong model
    assert facts["error"].startswith("subject digest mismatch: the bundle signs sha256:61d4849d")


def test_modified_payload_breaks_each_signature_kind(trust: TrustPolicy) -> None:
    for folder in ("v1.1.0-elliptic-key", "v1.1.0-certificate", "v1.1.0-sigstore"):
        doc = json.loads((MS / folder / "model.sig").read_bytes())
        statement = statement_of((MS / folder / "model.sig").read_bytes())
        statement["subject"][0]["digest"]["sha256"] = "0" * 64
        doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        facts = verify_bundle(json.dumps(doc).encode(), "sha256:" + "0" * 64, trust, SCOPE)
        assert not facts["verified"] and not facts["trusted"], folder
        assert facts["error"]


# --- sigstore-python vectors ---------------------------------------------------------------


def _verify_artifact(verifier: Any, name: str, bundle: str, identity: str, issuer: str | None):
    from sigstore.models import Bundle
    from sigstore.verify import policy

    parsed = Bundle.from_json((SS / bundle).read_bytes())
    verifier.verify_artifact(
        (SS / name).read_bytes(), parsed, policy.Identity(identity=identity, issuer=issuer)
    )


def _root(name: str) -> Any:
    from sigstore.verify import Verifier

    return Verifier(trusted_root=builtin_trusted_root(name))


@pytest.mark.parametrize(
    ("name", "identity"),
    [("bundle.txt", "a@tny.town"), ("bundle_v3.txt", "william@yossarian.net")],
)
def test_sigstore_staging_positives(name: str, identity: str) -> None:
    _verify_artifact(
        _root("staging"), name, name + ".sigstore", identity, "https://github.com/login/oauth"
    )


def test_sigstore_dsse_rekor_v2_with_staging_root() -> None:
    identity = (
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
        ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
    )
    issuer = "https://token.actions.githubusercontent.com"
    bundle = (SS / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    trust = TrustPolicy.from_document(
        _doc(
            {
                "name": "beacon",
                "purposes": ["attestation"],
                "keyless": {
                    "trust_root": "staging",
                    "identities": [{"subject": identity, "issuer": issuer}],
                },
            }
        )
    )
    artifact = (
        "sha256:" + hashlib.sha256((SS / "a.dsse.staging-rekor-v2.txt").read_bytes()).hexdigest()
    )
    facts = verify_bundle(bundle, artifact, trust, SCOPE, purpose="attestation")
    assert facts["verified"] and facts["authority"] == "beacon" and not facts["trusted"]
    assert facts["identity"] == identity and facts["issuer"] == issuer
    assert facts["timestamp_source"] == "rfc3161"  # Rekor v2: no integrated time
    # a real attestation, but SLSA provenance, not mlgate governance
    assert facts["predicate_type"] == "https://slsa.dev/provenance/v1"
    assert facts["error"].startswith("unexpected predicate type 'https://slsa.dev/provenance/v1'")
    # the same bundle under the production root does not verify
    prod = TrustPolicy.from_document(
        _doc(
            {
                "name": "beacon",
                "purposes": ["attestation"],
                "keyless": {"identities": [{"subject": identity, "issuer": issuer}]},
            }
        )
    )
    facts = verify_bundle(bundle, artifact, prod, SCOPE, purpose="attestation")
    assert not facts["verified"] and facts["error"].startswith("Sigstore verification failed")


def test_sigstore_no_signed_time_is_rejected() -> None:
    from sigstore.models import InvalidBundle

    with pytest.raises(InvalidBundle, match="inclusion promise or signed timestamp"):
        _verify_artifact(
            _root("production"),
            "bundle_v3_no_signed_time.txt",
            "bundle_v3_no_signed_time.txt.sigstore.json",
            "x@example.com",
            None,
        )


def test_sigstore_invalid_version_is_rejected() -> None:
    from sigstore.models import InvalidBundle

    with pytest.raises(InvalidBundle, match="mediaType"):
        _verify_artifact(
            _root("production"),
            "bundle_invalid_version.txt",
            "bundle_invalid_version.txt.sigstore",
            "x@example.com",
            None,
        )
    # and through the admission path: a clear media-type error
    facts = verify_bundle(
        (SS / "bundle_invalid_version.txt.sigstore").read_bytes(),
        None,
        TrustPolicy.empty(),
        SCOPE,
    )
    assert facts["error"] == "unsupported bundle media type 'this is completely wrong'"


def test_sigstore_message_signature_is_not_a_model_signature() -> None:
    facts = verify_bundle(
        (SS / "bundle.txt.sigstore").read_bytes(), None, TrustPolicy.empty(), SCOPE
    )
    assert not facts["verified"]
    assert (
        facts["error"] == "bundle has no DSSE envelope (bare message signatures are not accepted)"
    )


def test_tsa_private_trust_config(tmp_path: Path) -> None:
    from sigstore.errors import VerificationError

    identity = "alexis.challande@trailofbits.com"
    # loaded the way an operator configures it: trust.yaml naming a trust_config file
    (tmp_path / "trust.yaml").write_text(
        "apiVersion: mlgate.io/v1\nkind: TrustPolicy\nauthorities:\n"
        "  - name: private\n    purposes: [model]\n    keyless:\n"
        f"      trust_config: {SS / 'tsa' / 'trust_config.json'}\n"
        f"      identities: [{{subject: {identity}, issuer: https://accounts.google.com}}]\n"
    )
    trust = TrustPolicy.load(tmp_path / "trust.yaml")
    (root,) = trust.roots.values()
    _verify_artifact(root.verifier, "tsa/bundle.txt", "tsa/bundle.txt.sigstore", identity, None)
    with pytest.raises(VerificationError):
        _verify_artifact(
            _root("production"), "tsa/bundle.txt", "tsa/bundle.txt.sigstore", identity, None
        )
