"""Loading policies/trust.yaml: errors name file:line, scope and purposes mean what they say."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from error_codes import problem_codes
from mlgate.errors import PolicyError
from mlgate.supplychain.trust import Scope, TrustPolicy
from pki import make_chain, public_pem, spki_pem, write_key

REPO = Path(__file__).resolve().parents[1]
HEADER = "apiVersion: mlgate.io/v1\nkind: TrustPolicy\n"


def load(tmp_path: Path, body: str) -> TrustPolicy:
    path = tmp_path / "trust.yaml"
    path.write_text(HEADER + body)
    return TrustPolicy.load(path)


def error_of(tmp_path: Path, body: str) -> str:
    with pytest.raises(PolicyError) as info:
        load(tmp_path, body)
    return str(info.value)


def test_shipped_policy_loads_and_trusts_the_demo_keys() -> None:
    trust = TrustPolicy.from_policy_dir(REPO / "policies")
    names = {a.name: a for a in trust.authorities}
    assert names["demo-model-signer"].purposes == {"model"}
    assert names["demo-promotion-pipeline"].purposes == {"attestation"}
    keys = REPO / "examples" / "keys"
    assert (
        spki_pem(names["demo-model-signer"].key.key)
        == (keys / "model-signing.pub.pem").read_bytes()
    )
    assert (
        spki_pem(names["demo-promotion-pipeline"].key.key)
        == (keys / "promotion-pipeline.pub.pem").read_bytes()
    )
    keyless = names["github-release-workflow"]
    assert keyless.method == "keyless" and keyless.trust_root == "production"
    assert not keyless.applies_to(Scope("production", "ml-sandbox-a"), "model")
    assert keyless.applies_to(Scope("sandbox", "ml-sandbox-a"), "model")
    assert trust.revision == TrustPolicy.from_policy_dir(REPO / "policies").revision
    assert trust.sources.store_dir == (REPO / "signatures").resolve()


def test_missing_trust_file_trusts_nobody(tmp_path: Path) -> None:
    trust = TrustPolicy.from_policy_dir(tmp_path)
    assert trust.authorities == ()
    assert trust.sources.store_dir == (tmp_path.parent / "signatures").resolve()


def test_scope_globs_and_purposes(tmp_path: Path) -> None:
    write_key(tmp_path / "k.pem")
    trust = load(
        tmp_path,
        "authorities:\n  - name: a\n    purposes: [model, attestation]\n"
        "    scope: {environments: [prod*, staging], namespaces: [ml-*, fraud]}\n"
        "    key: {path: k.pub}\n",
    )
    (auth,) = trust.authorities
    assert auth.applies_to(Scope("production", "ml-team1"), "model")
    assert auth.applies_to(Scope("staging", "fraud"), "attestation")
    assert not auth.applies_to(Scope("dev", "ml-team1"), "model")
    assert not auth.applies_to(Scope("production", "default"), "model")
    assert not auth.applies_to(Scope("production", "ml-x"), "other")


def test_revision_covers_referenced_files(tmp_path: Path) -> None:
    write_key(tmp_path / "k.pem")
    body = "authorities:\n  - name: a\n    purposes: [model]\n    key: {path: k.pub}\n"
    first = load(tmp_path, body).revision
    assert first == load(tmp_path, body).revision and first.startswith("sha256:")
    write_key(tmp_path / "k.pem")  # same trust.yaml, rotated key file
    assert load(tmp_path, body).revision != first


def test_inline_pem_and_certificate_and_trust_config(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = "\n".join("        " + line for line in public_pem(key).decode().splitlines())
    pki = make_chain(tmp_path / "pki")
    trust = load(
        tmp_path,
        "authorities:\n"
        "  - name: inline\n    purposes: [model]\n    key:\n      pem: |\n" + pem + "\n"
        "  - name: ca\n    purposes: [attestation]\n    certificate:\n"
        f"      ca: [{{path: {pki['root']}}}, {{path: {pki['int']}}}]\n"
        "  - name: staging\n    purposes: [model]\n    keyless:\n      trust_root: staging\n"
        "      identities: [{subject_regex: '.+@example\\.com', issuer: https://issuer}]\n",
    )
    methods = {a.name: a.method for a in trust.authorities}
    assert methods == {"inline": "key", "ca": "certificate", "staging": "keyless"}
    # Only the self-signed root anchors chains; the intermediate helps build them.
    assert len(trust.authorities[1].ca_certs) == 1
    assert len(trust.authorities[1].intermediates) == 1
    assert set(trust.roots) == {"staging"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("authorities: [\n", "trust.yaml:4: invalid YAML"),
        ("authorities:\n  - name: a\n    purposes: [model]\n    colour: red\n    key: {pem: x}\n",
         "trust.yaml:6: unknown key 'colour' in /authorities/0"),
        ("authorities:\n  - name: a\n    purposes: [deploy]\n    key: {path: k.pub}\n",
         "trust.yaml:5: /authorities/0/purposes/0: 'deploy' is not one of"),
        ("authorities:\n  - name: a\n    purposes: [model]\n",
         "trust.yaml:4: /authorities/0: {'name': 'a', 'purposes': ['model']} is not valid"),
        ("authorities:\n  - name: a\n    purposes: [model]\n    key: {path: missing.pub}\n",
         "trust.yaml:6: cannot read missing.pub"),
        ("authorities:\n  - name: a\n    purposes: [model]\n    key:\n      pem: |\n"
         "        -----BEGIN PUBLIC KEY-----\n        AAAA\n        -----END PUBLIC KEY-----\n",
         "trust.yaml:6: invalid public key"),
        ("authorities:\n  - name: a\n    purposes: [model]\n    keyless:\n"
         "      identities: [{subject: x}]\n",
         "trust.yaml:7: /authorities/0/keyless/identities/0"),
        ("authorities:\n  - name: a\n    purposes: [model]\n    keyless:\n"
         "      identities: [{subject_regex: '(?i)alice', issuer: https://i}]\n",
         "trust.yaml:7: regex '(?i)alice' uses Python-only syntax"),
        ("authorities:\n  - name: a\n    purposes: [model]\n    keyless:\n"
         "      identities: [{subject_regex: 'a(b', issuer: https://i}]\n",
         "trust.yaml:7: invalid regex 'a(b'"),
        ("authorities:\n  - name: a\n    purposes: [model]\n    keyless:\n"
         "      trust_config: bad.json\n      identities: [{subject: x, issuer: https://i}]\n",
         "trust.yaml:7: cannot read bad.json"),
        ("authorities:\n  - {name: a, purposes: [model], key: {path: k.pub}}\n"
         "  - {name: a, purposes: [model], key: {path: k.pub}}\n",
         "trust.yaml:5: duplicate authority name 'a'"),
        ("sources: {http_allow: ['ftp://x/']}\nauthorities: []\n",
         "trust.yaml:3: /sources/http_allow/0: 'ftp://x/' does not match"),
    ],
)  # fmt: skip
def test_errors_name_file_and_line(tmp_path: Path, body: str, expected: str) -> None:
    write_key(tmp_path / "k.pem")
    assert expected in error_of(tmp_path, body)


def test_invalid_trust_config_content(tmp_path: Path) -> None:
    (tmp_path / "tc.json").write_text('{"mediaType": "nope"}')
    message = error_of(
        tmp_path,
        "authorities:\n  - name: a\n    purposes: [model]\n    keyless:\n"
        "      trust_config: tc.json\n      identities: [{subject: x, issuer: https://i}]\n",
    )
    assert "trust.yaml:7: invalid Sigstore trust config tc.json" in message


def test_wrong_document_kind(tmp_path: Path) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nauthorities: []\n")
    with pytest.raises(PolicyError) as info:
        TrustPolicy.load(path)
    assert problem_codes(info.value) == [("invalid", f"{path}:1"), ("invalid", f"{path}:2")]
