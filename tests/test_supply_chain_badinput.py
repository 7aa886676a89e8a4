"""What the webhook sees for hostile or broken input: a clear error, ``trusted: false``,
never an exception. Also the verification cache that keeps the hot path fast."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.supplychain.attestation import create_attestation
from mlgate.supplychain.cache import VerificationCache
from mlgate.supplychain.dsse import KeySigner
from mlgate.supplychain.facts import FACT_KEYS, LEGACY_MODEL_PREDICATE
from mlgate.supplychain.modeldir import model_digest, sign_model
from mlgate.supplychain.trust import TrustPolicy
from mlgate.supplychain.verifier import Scope, SupplyChainVerifier
from pki import make_model, public_pem, write_key

PROD = Scope("production", "ml-prod")


class Env:
    """A trust policy (model key + pipeline key), a store, a signed model and attestation."""

    def __init__(self, tmp: Path) -> None:
        self.model_key = write_key(tmp / "model.pem")
        self.pipeline = KeySigner.build(ec.generate_private_key(ec.SECP256R1()))
        self.store = tmp / "signatures"
        self.store.mkdir()
        self.trust = TrustPolicy.from_document(
            {
                "apiVersion": "mlgate.io/v1",
                "kind": "TrustPolicy",
                "authorities": [
                    {
                        "name": "models",
                        "purposes": ["model"],
                        "scope": {"namespaces": ["ml-*"]},
                        "key": {"pem": public_pem(self.model_key).decode()},
                    },
                    {
                        "name": "pipeline",
                        "purposes": ["attestation"],
                        "key": {"pem": public_pem(self.pipeline.private_key).decode()},
                    },
                    {
                        "name": "ci-keyless",
                        "purposes": ["attestation"],
                        "keyless": {
                            "trust_root": "staging",
                            "identities": [{"subject": "ci@example.com", "issuer": "https://i"}],
                        },
                    },
                ],
            }
        )
        model = make_model(tmp / "model")
        self.signature = sign_model(model, key=tmp / "model.pem").read_bytes()
        self.digest = model_digest(model)
        self.attestation = self.attest(self.digest)
        self.verifier = SupplyChainVerifier(self.trust, self.store)

    def attest(self, digest: str, signer: KeySigner | None = None) -> bytes:
        return create_attestation(
            signer or self.pipeline,
            model_name="m",
            model_digest=digest,
            card={"risk": {"tier": "minimal"}},
            evaluation={},
            approvals=[],
        )

    def facts(self, kind: str, bundle: bytes, digest: str | None = None) -> dict[str, Any]:
        annotations = {f"mlgate.io/{kind}": base64.b64encode(bundle).decode()}
        return self.verifier.facts(annotations, digest or self.digest, PROD)[kind]


@pytest.fixture()
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def assert_refused(facts: dict[str, Any], error: str) -> None:
    assert not facts["trusted"], facts
    assert facts["error"] is not None and error in facts["error"], facts["error"]
    json.dumps(facts)


def test_good_inputs_are_trusted(env: Env) -> None:
    both = env.verifier.facts(
        {
            "mlgate.io/signature": base64.b64encode(env.signature).decode(),
            "mlgate.io/attestation": base64.b64encode(env.attestation).decode(),
        },
        env.digest,
        PROD,
    )
    assert tuple(both["signature"]) == FACT_KEYS
    assert tuple(both["attestation"]) == (*FACT_KEYS, "predicate")
    assert both["signature"]["trusted"] and both["signature"]["error"] is None
    assert both["attestation"]["predicate"]["card"] == {"risk": {"tier": "minimal"}}


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda b: b[: len(b) // 2], "bundle is not valid JSON"),
        (lambda b: b"\x00\xff garbage \xfe", "bundle is not valid JSON"),
        (lambda b: b"[1, 2, 3]", "bundle is not a JSON object"),
        (lambda b: b"[" * 100_000, "bundle JSON is nested too deeply"),
        (lambda b: b.replace(b"bundle.v0.3+json", b"bundle.v9+json"), "unsupported bundle media type"),
        (lambda b: _edit(b, lambda d: d.pop("dsseEnvelope")), "bundle has no DSSE envelope"),
        (lambda b: _edit(b, lambda d: d.pop("verificationMaterial")), "no verification material"),
        (lambda b: _edit(b, lambda d: d["dsseEnvelope"].update(payload="@@@")), "not valid base64"),
        (lambda b: _edit(b, lambda d: d["dsseEnvelope"]["signatures"].append({"sig": ""})),
         "exactly one signature"),
        (lambda b: _edit(b, lambda d: d["dsseEnvelope"].update(payloadType="text/plain")),
         "does not verify with any configured public key"),
        (lambda b: _edit(b, lambda d: d["verificationMaterial"].update(
            publicKey={"hint": "00" * 32})), "signed by an unknown public key sha256:0000"),
        (lambda b: _edit(b, lambda d: d["verificationMaterial"].update(
            certificate={"rawBytes": "AAAA"}, publicKey=None)), "invalid Sigstore bundle"),
    ],
)  # fmt: skip
def test_broken_signature_bundles(env: Env, mangle: Any, error: str) -> None:
    facts = env.facts("signature", mangle(env.signature))
    assert_refused(facts, error)
    assert facts["present"] and not facts["verified"] and facts["subject_digest"] is None


def _edit(bundle: bytes, change: Any) -> bytes:
    doc = json.loads(bundle)
    change(doc)
    return json.dumps(doc).encode()


def test_oversized_bundle(env: Env) -> None:
    big = env.signature[:-2] + b" " * (1024 * 1024) + b"}\n"
    (env.store / "big.sig").write_bytes(big)
    facts = env.verifier.facts({"mlgate.io/signature-ref": "big.sig"}, env.digest, PROD)
    assert_refused(facts["signature"], "bundle too large")
    assert facts["signature"]["source"] == "store"
    from mlgate.supplychain.signature import verify_bundle

    direct = verify_bundle(big, env.digest, env.trust, PROD)
    assert_refused(direct, f"bundle too large: {len(big)} bytes (limit 1048576)")


def test_bundle_for_another_digest(env: Env) -> None:
    other = "sha256:" + "0" * 64
    assert_refused(env.facts("signature", env.signature, other), "subject digest mismatch")
    facts = env.facts("attestation", env.attestation, other)
    assert facts["authority"] == "pipeline" and not facts["digest_matches"]
    assert not facts["trusted"] and facts["predicate"] == {}
    assert "subject digest mismatch" in facts["error"]


def test_attestation_for_another_model_is_withheld(env: Env) -> None:
    facts = env.facts("attestation", env.attest("sha256:" + "1" * 64))
    assert facts["predicate"] == {} and "subject digest mismatch" in facts["error"]


def test_untrusted_identity(env: Env) -> None:
    stranger = KeySigner.build(ec.generate_private_key(ec.SECP256R1()))
    assert_refused(env.facts("attestation", env.attest(env.digest, stranger)), "unknown public key")
    # the model key is trusted for models in ml-* only
    out_of_scope = env.verifier.facts(
        {"mlgate.io/signature": base64.b64encode(env.signature).decode()},
        env.digest,
        Scope("production", "default"),
    )["signature"]
    assert out_of_scope["verified"]
    assert_refused(out_of_scope, "untrusted identity sha256:")
    # and may not sign attestations
    model_signer = KeySigner.build(env.model_key)
    assert_refused(
        env.facts("attestation", env.attest(env.digest, model_signer)), "untrusted identity"
    )


def test_wrong_predicate_and_payload(env: Env) -> None:
    assert_refused(env.facts("attestation", env.signature), "unexpected predicate type")
    facts = env.facts("signature", env.attestation)
    assert facts["error"].startswith("unexpected predicate type 'https://mlgate.io/governance/v1'")
    signer = KeySigner.build(env.model_key)
    facts = env.facts("signature", signer.sign_dsse(b"hello", "text/plain"))
    assert facts["verified"] and "DSSE payload type is 'text/plain'" in facts["error"]
    facts = env.facts("signature", signer.sign_dsse(b"not json"))
    assert facts["error"] == "signed payload is not valid JSON"
    facts = env.facts("signature", signer.sign_dsse(b'{"_type": "other"}'))
    assert "not an in-toto statement" in facts["error"]


def test_inconsistent_model_statement(env: Env) -> None:
    statement = json.loads(base64.b64decode(json.loads(env.signature)["dsseEnvelope"]["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "2" * 64  # does not match the resources
    signer = KeySigner.build(env.model_key)
    facts = env.facts(
        "signature", signer.sign_dsse(json.dumps(statement).encode()), "sha256:" + "2" * 64
    )
    assert_refused_or_flagged(facts, "model signature is inconsistent")


def assert_refused_or_flagged(facts: dict[str, Any], error: str) -> None:
    assert_refused(facts, error)
    assert not facts["digest_matches"]


def test_legacy_statement_is_flagged(env: Env) -> None:
    legacy = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "weights.bin", "digest": {"sha256": "3" * 64}}],
        "predicateType": LEGACY_MODEL_PREDICATE,
        "predicate": {},
    }
    bundle = KeySigner.build(env.model_key).sign_dsse(json.dumps(legacy).encode())
    facts = env.facts("signature", bundle, "sha256:" + "3" * 64)
    assert facts["legacy"] and not facts["digest_matches"] and facts["subject_digest"] is None
    assert_refused_or_flagged(facts, "legacy model-signing format")


def test_missing_and_bad_declared_digest(env: Env) -> None:
    annotations = {"mlgate.io/signature": base64.b64encode(env.signature).decode()}
    facts = env.verifier.facts(annotations, None, PROD)["signature"]
    assert facts["authority"] == "models" and not facts["trusted"] and not facts["digest_matches"]
    assert facts["error"] == "no declared model digest (mlgate.io/model-digest) to compare with"
    facts = env.verifier.facts(annotations, "sha256:XYZ", PROD)["signature"]
    assert "is not sha256:<64 hex digits>" in facts["error"]
    upper = "sha256:" + env.digest.split(":")[1].upper()
    assert env.verifier.facts(annotations, upper, PROD)["signature"]["digest_matches"]


def test_unsigned_and_path_traversal(env: Env) -> None:
    facts = env.verifier.facts({}, env.digest, PROD)
    assert not facts["signature"]["present"] and facts["signature"]["source"] == "none"
    assert facts["attestation"]["error"].startswith("unsigned")
    assert facts["attestation"]["predicate"] == {}
    bad = env.verifier.facts({"mlgate.io/attestation-ref": "../../etc/passwd"}, env.digest, PROD)
    assert_refused(bad["attestation"], "invalid store reference")
    assert bad["attestation"]["predicate"] == {}


def test_a_failing_source_does_not_raise(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(env.verifier.sources, "fetch", boom)
    facts = env.verifier.facts({"mlgate.io/signature": "e30="}, env.digest, PROD)
    assert_refused(facts["signature"], "cannot load bundle: RuntimeError")


def test_empty_trust_policy_fails_closed(env: Env) -> None:
    verifier = SupplyChainVerifier(TrustPolicy.empty())
    annotations = {"mlgate.io/signature": base64.b64encode(env.signature).decode()}
    facts = verifier.facts(annotations, env.digest, PROD)["signature"]
    assert_refused(facts, "no key authority is configured")


def test_store_reference_through_from_policy_dir(tmp_path: Path) -> None:
    env = Env(tmp_path)
    policies = tmp_path / "policies"
    policies.mkdir()
    pem = "\n".join("        " + line for line in public_pem(env.model_key).decode().splitlines())
    (policies / "trust.yaml").write_text(
        "apiVersion: mlgate.io/v1\nkind: TrustPolicy\nauthorities:\n"
        "  - name: models\n    purposes: [model]\n    key:\n      pem: |\n" + pem + "\n"
    )
    (env.store / "team").mkdir()
    (env.store / "team" / "m.sig").write_bytes(env.signature)
    verifier = SupplyChainVerifier.from_policy_dir(policies)  # store: ../signatures
    facts = verifier.facts({"mlgate.io/signature-ref": "team/m.sig"}, env.digest, PROD)
    assert facts["signature"]["trusted"] and facts["signature"]["source"] == "store"


# --- cache ---------------------------------------------------------------------------------


def test_results_are_cached_per_scope_and_revision(env: Env) -> None:
    annotations = {"mlgate.io/signature": base64.b64encode(env.signature).decode()}
    cache = env.verifier.cache
    env.verifier.facts(annotations, env.digest, PROD)
    misses = cache.misses
    first = env.verifier.facts(annotations, env.digest, PROD)["signature"]
    assert cache.misses == misses  # both kinds: signature hit, attestation unsigned (no key)
    first["trusted"] = "mutated by a caller"
    assert env.verifier.facts(annotations, env.digest, PROD)["signature"]["trusted"] is True
    env.verifier.facts(annotations, env.digest, Scope("production", "ml-other"))
    assert cache.misses == misses + 1  # another scope is another question


def test_cache_ttls_and_bound() -> None:
    now = [0.0]
    cache = VerificationCache(max_entries=2, success_ttl=600, failure_ttl=10, clock=lambda: now[0])
    cache.put("ok", {"error": None})
    cache.put("bad", {"error": "nope"})
    now[0] = 11
    assert cache.get("bad") is None and cache.get("ok") == {"error": None}
    cache.put("a", {"error": None})
    cache.put("b", {"error": None})  # evicts the least recently used
    assert len(cache) == 2 and cache.get("ok") is None
    now[0] = 700
    assert cache.get("a") is None


def test_cache_is_thread_safe() -> None:
    cache = VerificationCache(max_entries=50)
    calls: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(500):
                key = (n + i) % 80
                facts = cache.get_or_compute(
                    key, lambda k=key: calls.append(k) or {"k": k, "error": None}
                )
                assert facts["k"] == key
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) <= 50
    assert cache.hits + cache.misses == 8 * 500


def test_random_corruption_never_raises_or_trusts_a_changed_signature(env: Env) -> None:
    import random

    rng = random.Random(1234)
    original = json.loads(env.signature)["dsseEnvelope"]
    for _ in range(300):
        data = bytearray(env.signature)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        facts = env.facts("signature", bytes(data))
        assert tuple(facts) == FACT_KEYS
        if facts["trusted"]:  # only harmless edits (e.g. whitespace) may still verify
            envelope = json.loads(bytes(data))["dsseEnvelope"]
            assert base64.b64decode(envelope["payload"]) == base64.b64decode(original["payload"])
