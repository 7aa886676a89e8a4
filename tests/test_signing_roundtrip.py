"""Sign and verify model directories with self-generated keys and certificate chains.

The bundles mlgate writes are also checked with model_signing's own verifier: they are the
OpenSSF model-signing format, not a look-alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from error_codes import cli_error
from mlgate.cli.main import main
from mlgate.supplychain.modeldir import (
    model_digest,
    sign_model,
    unverified_subject_digest,
    verify_model_dir,
)
from mlgate.supplychain.trust import Scope, TrustPolicy
from mlgate.supplychain.trustload import single_authority_policy
from pki import make_chain, make_model, write_key

SCOPE = Scope("production", "ml-prod")


def key_policy(pub: Path) -> TrustPolicy:
    return single_authority_policy(key_pem=pub.read_bytes())


# --- key signing ---------------------------------------------------------------------------


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()], ids=["p256", "p384"])
def test_key_roundtrip_and_model_signing_interop(tmp_path: Path, curve: ec.EllipticCurve) -> None:
    from model_signing import hashing, verifying

    model = make_model(tmp_path / "model")
    write_key(tmp_path / "k.pem", curve)
    sig = sign_model(model, key=tmp_path / "k.pem")
    assert sig == model / "model.sig"

    digest = model_digest(model)
    assert unverified_subject_digest(sig.read_bytes()) == digest
    result = verify_model_dir(
        model, sig.read_bytes(), key_policy(tmp_path / "k.pub"), SCOPE, expect_digest=digest
    )
    assert result.ok, result.message
    assert result.facts["method"] == "key" and result.facts["digest_matches"]

    # model_signing reads what we wrote, with its own verifier.
    verifying.Config().use_elliptic_key_verifier(public_key=tmp_path / "k.pub").set_hashing_config(
        hashing.Config().set_ignored_paths(paths=["model.sig"])
    ).verify(model, sig)


def test_signing_is_deterministic(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    write_key(tmp_path / "k.pem")
    first = sign_model(model, key=tmp_path / "k.pem").read_bytes()
    second = sign_model(model, key=tmp_path / "k.pem").read_bytes()
    assert first == second


def test_tampered_added_and_removed_files_fail(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    write_key(tmp_path / "k.pem")
    bundle = sign_model(model, key=tmp_path / "k.pem").read_bytes()
    trust = key_policy(tmp_path / "k.pub")

    (model / "weights.bin").write_bytes(b"evil")
    result = verify_model_dir(model, bundle, trust, SCOPE)
    assert not result.ok and "modified files: weights.bin" in result.message

    (model / "weights.bin").write_bytes(bytes(range(64)))
    (model / "backdoor.py").write_text("import os\n")
    result = verify_model_dir(model, bundle, trust, SCOPE)
    assert not result.ok and "unsigned files: backdoor.py" in result.message

    (model / "backdoor.py").unlink()
    (model / "sub" / "tokenizer.txt").unlink()
    result = verify_model_dir(model, bundle, trust, SCOPE)
    assert not result.ok and "missing files: sub/tokenizer.txt" in result.message


def test_ignore_paths_are_recorded_and_honoured(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    (model / "README.md").write_text("notes\n")
    write_key(tmp_path / "k.pem")
    bundle = sign_model(model, key=tmp_path / "k.pem", ignore=["README.md"]).read_bytes()
    (model / "README.md").write_text("edited notes\n")  # ignored: not part of the model
    assert verify_model_dir(model, bundle, key_policy(tmp_path / "k.pub"), SCOPE).ok
    assert model_digest(model, ["README.md"]) == unverified_subject_digest(bundle)
    assert model_digest(model) != model_digest(model, ["README.md"])


def test_wrong_key_is_rejected(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    write_key(tmp_path / "k.pem")
    write_key(tmp_path / "other.pem")
    bundle = sign_model(model, key=tmp_path / "k.pem").read_bytes()
    result = verify_model_dir(model, bundle, key_policy(tmp_path / "other.pub"), SCOPE)
    assert not result.ok
    assert not result.facts["verified"]
    assert "unknown public key" in result.facts["error"]


# --- certificate signing -------------------------------------------------------------------


def test_certificate_roundtrip_and_model_signing_interop(tmp_path: Path) -> None:
    from model_signing import hashing, verifying

    pki = make_chain(tmp_path / "pki")
    model = make_model(tmp_path / "model")
    sig = sign_model(model, key=pki["key"], cert_chain=[pki["leaf"], pki["int"]])
    trust = single_authority_policy(ca_pems=[pki["root"].read_bytes()])
    result = verify_model_dir(
        model, sig.read_bytes(), trust, SCOPE, expect_digest=model_digest(model)
    )
    assert result.ok, result.message
    facts = result.facts
    assert facts["method"] == "certificate"
    assert facts["identity"] == "CN=ml-release"
    assert facts["issuer"] == "CN=test-intermediate-ca"

    verifying.Config().use_certificate_verifier(certificate_chain=[pki["root"]]).set_hashing_config(
        hashing.Config().set_ignored_paths(paths=["model.sig"])
    ).verify(model, sig)


def test_certificate_from_another_ca_is_rejected(tmp_path: Path) -> None:
    pki = make_chain(tmp_path / "pki")
    other = make_chain(tmp_path / "other")
    model = make_model(tmp_path / "model")
    sig = sign_model(model, key=pki["key"], cert_chain=[pki["leaf"], pki["int"]])
    trust = single_authority_policy(ca_pems=[other["root"].read_bytes()])
    result = verify_model_dir(model, sig.read_bytes(), trust, SCOPE)
    assert not result.ok
    assert "does not verify against any configured CA" in result.facts["error"]


def test_certificate_identity_constraint(tmp_path: Path) -> None:
    pki = make_chain(tmp_path / "pki", "ml-release")
    model = make_model(tmp_path / "model")
    bundle = sign_model(model, key=pki["key"], cert_chain=[pki["leaf"], pki["int"]]).read_bytes()

    def policy(regex: str) -> TrustPolicy:
        return TrustPolicy.from_document(
            {
                "apiVersion": "mlgate.io/v1",
                "kind": "TrustPolicy",
                "authorities": [
                    {
                        "name": "corp",
                        "purposes": ["model"],
                        "certificate": {
                            "ca": [{"path": str(pki["root"])}],
                            "identities": [{"subject_regex": regex}],
                        },
                    }
                ],
            }
        )

    assert verify_model_dir(model, bundle, policy("ml-release@example\\.com"), SCOPE).ok
    result = verify_model_dir(model, bundle, policy("^CN=someone-else$"), SCOPE)
    assert not result.ok
    assert result.facts["verified"] and not result.facts["trusted"]
    assert result.facts["error"].startswith("untrusted identity CN=ml-release")


def test_leaf_not_matching_key_is_an_input_error(tmp_path: Path) -> None:
    from mlgate.errors import InputError

    pki = make_chain(tmp_path / "pki")
    write_key(tmp_path / "other.pem")
    with pytest.raises(InputError) as info:
        sign_model(make_model(tmp_path / "m"), key=tmp_path / "other.pem", cert_chain=[pki["leaf"]])
    assert info.value.code == "certificate.key_mismatch"
    assert info.value.location == str(tmp_path / "other.pem")


# --- CLI -----------------------------------------------------------------------------------


def test_cli_sign_digest_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(tmp_path / "model")
    write_key(tmp_path / "k.pem")
    assert main(["sign", str(model), "--key", str(tmp_path / "k.pem")]) == 0
    assert main(["digest", str(model)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    digest = out[-1]
    assert digest.startswith("sha256:") and digest in out[0]

    pub = str(tmp_path / "k.pub")
    assert main(["verify", str(model), "--key", pub]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    # pod-start mode
    args = ["verify", "--model-dir", str(model), "--key", pub, "--expect-digest"]
    assert main([*args, digest]) == 0
    wrong = "sha256:" + "0" * 64
    assert main([*args, wrong]) == 1
    capsys.readouterr()
    assert main([*args, wrong, "--json"]) == 1
    facts = json.loads(capsys.readouterr().out)
    assert (facts["ok"], facts["verified"], facts["trusted"]) == (False, True, False)
    assert (facts["subject_digest"], facts["declared_digest"]) == (digest, wrong)
    assert facts["digest_matches"] is False

    (model / "config.json").write_text("{}")
    assert main(["verify", str(model), "--key", pub]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAIL: ") and "modified files: config.json" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_verify_with_policies_dir(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    write_key(tmp_path / "k.pem")
    sign_model(model, key=tmp_path / "k.pem")
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "trust.yaml").write_text(
        "apiVersion: mlgate.io/v1\nkind: TrustPolicy\nauthorities:\n"
        "  - name: ci\n    purposes: [model]\n    scope: {namespaces: [ml-*]}\n"
        f"    key: {{path: {tmp_path / 'k.pub'}}}\n"
    )
    base = ["verify", "--model-dir", str(model), "--policies", str(policies)]
    assert main([*base, "--namespace", "ml-prod"]) == 0
    assert main([*base, "--namespace", "default"]) == 1  # authority out of scope


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model(tmp_path / "model")
    write_key(tmp_path / "k.pem")
    sign_model(model, key=tmp_path / "k.pem")
    assert cli_error(["verify", str(model)]).code == "verify.trust_choice"
    assert main(["verify", str(model), "--key", str(tmp_path / "k.pub"), "--staging"]) == 2
    assert main(["verify", "--key", str(tmp_path / "k.pub")]) == 2
    assert (
        main(["verify", str(model), "--key", str(tmp_path / "k.pub"), "--expect-digest", "x"]) == 2
    )
    assert main(["verify", str(model), "--key", str(tmp_path / "missing.pub")]) == 2
    for argv in (["sign", str(tmp_path / "nope"), "--key", str(tmp_path / "k.pem")],
                 ["digest", str(tmp_path / "nope")]):  # fmt: skip
        err = cli_error(argv)
        assert (err.code, err.location) == ("model.not_found", str(tmp_path / "nope"))
