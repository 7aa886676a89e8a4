"""Model signatures: OpenSSF model-signing bundles (Sigstore bundle v0.3, DSSE, in-toto).

Two jobs:

* **Signature-only verification** (``inspect_bundle``/``verify_bundle``), the admission hot
  path: the webhook has the bundle and the declared ``sha256:`` root digest, never the model
  files. It checks the DSSE signature against the trust policy (key, certificate chain or
  Sigstore keyless), the statement's predicate, and that the single subject digest is the
  declared one. It never raises: every problem becomes a fact with an ``error``.
  ``verified``: some configured authority's material proves the signature. ``authority``:
  the authority that accepts this signer for the scope and purpose (identity allowed).
  ``trusted``: both, *and* the statement is acceptable and names the declared digest, so a
  policy that checks only ``trusted`` cannot be fooled by a valid signature of another model.
* **Directory signing and verification** (``sign_model``, ``verify_model_dir``,
  ``model_digest``) over ``model_signing``'s hashing, for CI and for the pod-start check.

Why not ``model_signing.verifying`` for the cryptography: its Sigstore verifier refreshes TUF
metadata over the network, its certificate verifier mutates a shared ``X509Store`` per call
(unsafe across threads) and its key verifier prints to stdout. One verification path here
serves admission, the CLI and the pod-start check alike; model_signing's own verifier is used
in the tests to prove the bundles we write are the format it reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.errors import InputError
from mlgate.evidence.trust import (
    DEFAULT_MAX_BUNDLE_BYTES,
    Authority,
    PublicKey,
    Scope,
    TrustPolicy,
    key_hint,
)

if TYPE_CHECKING:
    from model_signing import hashing

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
MODEL_PREDICATE = "https://model_signing/signature/v1.0"
LEGACY_MODEL_PREDICATE = "https://model_signing/Digests/v0.1"
GOVERNANCE_PREDICATE = "https://mlgate.io/governance/v1"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_TYPES = frozenset(
    {
        BUNDLE_MEDIA_TYPE,
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    }
)
DEFAULT_SIGNATURE_NAME = "model.sig"
DEFAULT_IGNORE = (DEFAULT_SIGNATURE_NAME,)
ANYWHERE = Scope(environment="*", namespace="*")

_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PURPOSE_PREDICATES = {"model": MODEL_PREDICATE, "attestation": GOVERNANCE_PREDICATE}
_OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SIGSTORE_OTHERNAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")

FACT_KEYS = (
    "present",
    "source",
    "verified",
    "trusted",
    "method",
    "identity",
    "issuer",
    "subject_digest",
    "declared_digest",
    "digest_matches",
    "predicate_type",
    "legacy",
    "timestamp_source",
    "bundle_digest",
    "authority",
    "error",
    "unknown_signer",
)


def new_facts(
    *,
    present: bool = False,
    source: str = "none",
    declared_digest: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The facts of a signature that proved nothing (yet): the fail-closed starting point."""
    return {
        "present": present,
        "source": source,
        "verified": False,
        "trusted": False,
        "method": None,
        "identity": None,
        "issuer": None,
        "subject_digest": None,
        "declared_digest": declared_digest,
        "digest_matches": False,
        "predicate_type": None,
        "legacy": False,
        "timestamp_source": None,
        "bundle_digest": None,
        "authority": None,
        "error": error,
        "unknown_signer": False,  # signed by a key trust.yaml does not list
    }


def normalize_digest(value: str | None) -> str | None:
    """``sha256:<hex>`` in lower case, or None when ``value`` is not such a digest."""
    if value is None:
        return None
    match = _DIGEST.match(value.strip())
    return f"sha256:{match.group(1).lower()}" if match else None


# --- DSSE --------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (what is actually signed)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _pae_model_signing_v02(payload: bytes) -> bytes:
    # model_signing v0.2 signed the repr() of the payload bytes with a misspelt prefix; its
    # signatures are still in use, so verification (only) accepts this form too.
    kind = IN_TOTO_PAYLOAD_TYPE
    return f"DSSEV1 {len(kind)} {kind} {len(payload)} {payload!r}".encode()


def _curve_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]


def _dsse_signature_ok(
    key: ec.EllipticCurvePublicKey, signature: bytes, payload_type: str, payload: bytes
) -> bool:
    attempts = [(pae(payload_type, payload), _curve_hash(key))]
    if payload_type == IN_TOTO_PAYLOAD_TYPE:
        legacy = _pae_model_signing_v02(payload)
        # v0.2 certificate signatures also hard-coded SHA-256 whatever the curve.
        attempts += [(legacy, _curve_hash(key)), (legacy, hashes.SHA256())]
    for message, digest in attempts:
        try:
            key.verify(signature, message, ec.ECDSA(digest))
            return True
        except InvalidSignature:
            continue
    return False


@dataclass(frozen=True)
class KeySigner:
    """An EC private key, optionally with its certificate chain (leaf first)."""

    private_key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_files(
        cls, key: Path, cert_chain: Sequence[Path] = (), password: str | None = None
    ) -> KeySigner:
        try:
            private = serialization.load_pem_private_key(
                key.read_bytes(), password.encode() if password else None
            )
        except (OSError, ValueError, TypeError) as err:
            raise InputError(f"cannot load private key: {err}", location=str(key)) from None
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise InputError("only elliptic-curve private keys are supported", location=str(key))
        certs: list[x509.Certificate] = []
        for path in cert_chain:
            try:
                certs.extend(x509.load_pem_x509_certificates(path.read_bytes()))
            except (OSError, ValueError) as err:
                raise InputError(f"cannot load certificates: {err}", location=str(path)) from None
        return cls.build(private, tuple(certs), where=str(key))

    @classmethod
    def build(
        cls,
        private: ec.EllipticCurvePrivateKey,
        chain: tuple[x509.Certificate, ...] = (),
        where: str | None = None,
    ) -> KeySigner:
        try:
            PublicKey.from_pem(
                private.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        except ValueError as err:
            raise InputError(str(err), location=where) from None
        if chain and chain[0].public_key() != private.public_key():
            raise InputError(
                "the first certificate of the chain is not for this private key", location=where
            )
        return cls(private, chain)

    def sign_dsse(self, payload: bytes, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> bytes:
        """A Sigstore bundle v0.3 (no transparency log) around a DSSE envelope, as JSON.

        This is the format model_signing writes for key and certificate signing; RFC 6979
        deterministic ECDSA makes the output reproducible.
        """
        public = self.private_key.public_key()
        signature = self.private_key.sign(
            pae(payload_type, payload), ec.ECDSA(_curve_hash(public), deterministic_signing=True)
        )
        if self.chain:
            der = [c.public_bytes(serialization.Encoding.DER) for c in self.chain]
            material: dict[str, Any] = {
                "x509CertificateChain": {"certificates": [{"rawBytes": _b64(d)} for d in der]}
            }
        else:
            material = {"publicKey": {"hint": key_hint(public)}}
        material["tlogEntries"] = []
        bundle = {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": material,
            "dsseEnvelope": {
                "payload": _b64(payload),
                "payloadType": payload_type,
                "signatures": [{"sig": _b64(signature), "keyid": ""}],
            },
        }
        return (json.dumps(bundle, indent=2) + "\n").encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _Reject(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Reject(f"{what} is not valid base64") from None


# --- signature-only verification ---------------------------------------------------------


class _Reject(Exception):
    """Internal: a bundle problem that becomes ``facts["error"]``."""


class _UnknownSigner(_Reject):
    """Internal: signed by a key trust.yaml does not list. The signature cannot be checked
    without the key, so it is not ``verified``; but the finding is an untrusted signer, not a
    broken signature (``unknown_signer`` and ``identity`` say so to the policy)."""

    def __init__(self, identity: str) -> None:
        super().__init__(f"signed by an unknown {identity}")
        self.identity = identity


@dataclass(frozen=True)
class _Verified:
    method: str
    identity: str
    issuer: str | None
    names: tuple[str, ...]  # every identity value an authority may match (SANs, DN, key id)
    authorities: tuple[Authority, ...]  # the authorities whose material verified it
    timestamp_source: str | None
    payload_type: str
    payload: bytes


def verify_bundle(
    bundle: bytes,
    declared_digest: str | None,
    trust: TrustPolicy,
    scope: Scope,
    *,
    purpose: str = "model",
    source: str = "inline",
    max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
) -> dict[str, Any]:
    """Signature-only verification of a model signature (or attestation) bundle -> facts."""
    return inspect_bundle(
        bundle, declared_digest, trust, scope, purpose=purpose, source=source, max_bytes=max_bytes
    )[0]


def inspect_bundle(
    bundle: bytes,
    declared_digest: str | None,
    trust: TrustPolicy,
    scope: Scope,
    *,
    purpose: str = "model",
    source: str = "inline",
    max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Like ``verify_bundle``, also returning the in-toto statement once it verified.

    Payload fields are reported only from a verified payload: an unverified bundle says
    nothing about what it claims to sign.
    """
    facts = new_facts(present=True, source=source, declared_digest=declared_digest)
    if len(bundle) > max_bytes:
        facts["error"] = f"bundle too large: {len(bundle)} bytes (limit {max_bytes})"
        return facts, None
    facts["bundle_digest"] = "sha256:" + hashlib.sha256(bundle).hexdigest()
    try:
        verified = _verify_crypto(bundle, trust, scope, purpose)
    except _Reject as err:
        facts["error"] = str(err)
        if isinstance(err, _UnknownSigner):
            facts.update(unknown_signer=True, identity=err.identity)
        return facts, None
    except Exception as err:  # never let a malformed bundle escape into the webhook
        facts["error"] = f"bundle rejected: {type(err).__name__}: {err}"[:500]
        return facts, None
    trusted_by = [
        a
        for a in verified.authorities
        if a.applies_to(scope, purpose) and a.allows_identity(verified.names, verified.issuer)
    ]
    facts.update(
        verified=True,
        method=verified.method,
        identity=verified.identity,
        issuer=verified.issuer,
        timestamp_source=verified.timestamp_source,
        authority=trusted_by[0].name if trusted_by else None,
    )
    errors: list[str] = []
    statement = _check_statement(verified, purpose, facts, errors)
    if not trusted_by:
        issuer = f" (issuer {verified.issuer})" if verified.issuer else ""
        errors.append(
            f"untrusted identity {verified.identity}{issuer} for {purpose} signatures in "
            f"environment={scope.environment} namespace={scope.namespace}"
        )
    declared = normalize_digest(declared_digest)
    if facts["subject_digest"] is not None:
        if declared_digest is None:
            errors.append("no declared model digest (mlgate.io/model-digest) to compare with")
        elif declared is None:
            errors.append(f"declared digest {declared_digest!r} is not sha256:<64 hex digits>")
        elif declared != facts["subject_digest"]:
            errors.append(
                f"subject digest mismatch: the bundle signs {facts['subject_digest']}, "
                f"the declared digest is {declared}"
            )
        else:
            facts["digest_matches"] = True
    # Fail closed: "trusted" is the one flag a policy may rely on alone. It needs an allowed
    # signer here (``authority`` names it) *and* an acceptable statement for the declared
    # digest; ``error`` says which part failed.
    facts["trusted"] = not errors
    facts["error"] = errors[0] if errors else None
    return facts, statement


def _verify_crypto(bundle: bytes, trust: TrustPolicy, scope: Scope, purpose: str) -> _Verified:
    try:
        doc = json.loads(bundle)
    except (UnicodeDecodeError, ValueError) as err:
        raise _Reject(f"bundle is not valid JSON: {err}") from None
    except RecursionError:
        raise _Reject("bundle JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise _Reject("bundle is not a JSON object")
    media_type = doc.get("mediaType")
    if media_type not in BUNDLE_MEDIA_TYPES:
        raise _Reject(f"unsupported bundle media type {str(media_type)[:100]!r}")
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise _Reject("bundle has no DSSE envelope (bare message signatures are not accepted)")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise _Reject("bundle has no verification material")
    if "certificate" in material or material.get("tlogEntries"):
        return _verify_keyless(bundle, trust, scope, purpose)
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise _Reject("DSSE envelope has no payloadType")
    payload = _unb64(envelope.get("payload"), "DSSE payload")
    signatures = envelope.get("signatures")
    if (
        not isinstance(signatures, list)
        or len(signatures) != 1
        or not isinstance(signatures[0], dict)
    ):
        raise _Reject("DSSE envelope must carry exactly one signature")
    signature = _unb64(signatures[0].get("sig"), "DSSE signature")
    if isinstance(material.get("publicKey"), dict):
        return _verify_key(material["publicKey"], signature, payload_type, payload, trust)
    if isinstance(material.get("x509CertificateChain"), dict):
        chain = material["x509CertificateChain"].get("certificates")
        return _verify_certificate(chain, signature, payload_type, payload, trust)
    raise _Reject(
        "bundle verification material is not a public key, certificate chain or certificate"
    )


def _verify_key(
    spec: dict[str, Any], signature: bytes, payload_type: str, payload: bytes, trust: TrustPolicy
) -> _Verified:
    authorities = trust.authorities_for("key")
    if not authorities:
        raise _Reject("bundle is signed with a public key, but no key authority is configured")
    hint = spec.get("hint") if isinstance(spec.get("hint"), str) else None
    if not hint and spec.get("rawBytes"):  # older model_signing: the PEM itself, base64
        try:
            hint = PublicKey.from_pem(_unb64(spec["rawBytes"], "publicKey.rawBytes")).hint
        except (_Reject, ValueError):
            hint = None
    keys = {a.key.hint: a.key for a in authorities if a.key is not None}
    candidates = [keys[hint]] if hint in keys else [] if hint else list(keys.values())
    for key in candidates:
        if _dsse_signature_ok(key.key, signature, payload_type, payload):
            return _Verified(
                method="key",
                identity=key.key_id,
                issuer=None,
                names=(key.key_id,),
                authorities=tuple(a for a in authorities if a.key and a.key.hint == key.hint),
                timestamp_source="none",
                payload_type=payload_type,
                payload=payload,
            )
    if hint and hint not in keys:
        raise _UnknownSigner(f"public key sha256:{hint[:64]}")
    raise _Reject("signature does not verify with any configured public key")


def _verify_certificate(
    chain: Any, signature: bytes, payload_type: str, payload: bytes, trust: TrustPolicy
) -> _Verified:
    from cryptography.x509.verification import VerificationError

    authorities = trust.authorities_for("certificate")
    if not authorities:
        raise _Reject("bundle is signed with a certificate, but no certificate authority is set")
    if not isinstance(chain, list) or not chain:
        raise _Reject("bundle certificate chain is empty")
    try:
        certs = [
            x509.load_der_x509_certificate(_unb64((c or {}).get("rawBytes"), "certificate"))
            for c in chain
        ]
    except ValueError as err:
        raise _Reject(f"bundle certificate is not valid DER: {err}") from None
    leaf = certs[0]
    passed: list[Authority] = []
    problem = ""
    for authority in authorities:
        try:
            # The bundle's chain first, then configured intermediates (never as anchors).
            _chain_verifier(authority, leaf).verify(leaf, [*certs[1:], *authority.intermediates])
            passed.append(authority)
        except (VerificationError, ValueError) as err:
            problem = str(err)
    if not passed:
        raise _Reject(f"certificate chain does not verify against any configured CA: {problem}")
    if not _can_sign(leaf):
        raise _Reject("signing certificate allows neither digital signatures nor code signing")
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise _Reject("signing certificate key is not a supported elliptic-curve key")
    if not _dsse_signature_ok(key, signature, payload_type, payload):
        raise _Reject("signature does not verify with the signing certificate's key")
    subject = leaf.subject.rfc4514_string()
    return _Verified(
        method="certificate",
        identity=subject,
        issuer=leaf.issuer.rfc4514_string(),
        names=(subject, *_san_values(leaf)),
        authorities=tuple(passed),
        timestamp_source="none",
        payload_type=payload_type,
        payload=payload,
    )


def _chain_verifier(authority: Authority, leaf: x509.Certificate) -> Any:
    from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder

    # No trusted timestamp exists for these signatures: like model_signing, check the chain
    # at the leaf's issuance so that a model signed years ago still verifies. The leaf
    # profile is permissive (private PKIs issue all sorts); the CA profile is not.
    return (
        PolicyBuilder()
        .store(authority.ca_store)
        .time(leaf.not_valid_before_utc)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )


def _can_sign(cert: x509.Certificate) -> bool:
    try:
        if cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        return x509.oid.ExtendedKeyUsageOID.CODE_SIGNING in usage
    except x509.ExtensionNotFound:
        return False


def _san_values(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    values: list[str] = []
    values += san.get_values_for_type(x509.RFC822Name)
    values += san.get_values_for_type(x509.UniformResourceIdentifier)
    values += san.get_values_for_type(x509.DNSName)
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == _SIGSTORE_OTHERNAME:
            values.append(_der_utf8(other.value))
    return values


def _der_utf8(value: bytes) -> str:
    # Sigstore extensions carry a DER UTF8String (v2) or raw bytes (v1).
    if len(value) >= 2 and value[0] == 0x0C and value[1] < 0x80:
        return value[2 : 2 + value[1]].decode(errors="replace")
    return value.decode(errors="replace")


def _oidc_issuer(cert: x509.Certificate) -> str | None:
    for oid in (_OIDC_ISSUER_V2, _OIDC_ISSUER_V1):
        try:
            ext = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        return _der_utf8(ext.value)  # type: ignore[attr-defined]
    return None


class _AnyIdentity:
    """A sigstore VerificationPolicy that accepts every identity.

    Cryptographic validity (``verified``) and identity policy (``trusted``) are separate
    facts, so identities are matched afterwards against the trust policy's authorities.
    """

    def verify(self, cert: x509.Certificate) -> None:
        return None


def _verify_keyless(bundle: bytes, trust: TrustPolicy, scope: Scope, purpose: str) -> _Verified:
    from sigstore.models import Bundle

    authorities = trust.authorities_for("keyless")
    if not authorities:
        raise _Reject("bundle is signed keyless (Sigstore), but no keyless authority is set")
    try:
        parsed = Bundle.from_json(bundle)
    except Exception as err:  # InvalidBundle, pydantic errors
        raise _Reject(f"invalid Sigstore bundle: {_first_line(err)}") from None
    if parsed._dsse_envelope is None:  # private: no public accessor
        raise _Reject("bundle has no DSSE envelope (bare message signatures are not accepted)")
    cert = parsed.signing_certificate
    names = tuple(_san_values(cert))
    issuer = _oidc_issuer(cert)
    # Try first the trust roots of authorities that would accept this signer here, so the
    # common case costs one verification; then the rest, to tell "forged" from "untrusted".
    wanted = [
        a.trust_root
        for a in authorities
        if a.applies_to(scope, purpose) and a.allows_identity(names, issuer)
    ]
    order = list(dict.fromkeys([*wanted, *(a.trust_root for a in authorities)]))
    problems: list[str] = []
    for root_id in order:
        root = trust.roots[root_id or ""]
        try:
            payload_type, payload = root.verifier.verify_dsse(parsed, _AnyIdentity())
        except Exception as err:
            problems.append(f"{root.name}: {_first_line(err)}")
            continue
        return _Verified(
            method="keyless",
            identity=names[0] if names else cert.subject.rfc4514_string(),
            issuer=issuer,
            names=names,
            authorities=tuple(a for a in authorities if a.trust_root == root_id),
            timestamp_source=_timestamp_source(root.verifier, parsed),
            payload_type=payload_type,
            payload=payload,
        )
    raise _Reject("Sigstore verification failed: " + "; ".join(problems))


def _timestamp_source(verifier: Any, bundle: Any) -> str | None:
    # verify_dsse() established the signing time but does not say how; ask the same
    # (private) routine. Cheap, and the result is cached with the facts. If a sigstore
    # release moves it, report "unknown" (None) rather than reject a verified bundle.
    try:
        from sigstore._internal.timestamp import TimestampSource

        sources = {r.source for r in verifier._establish_time(bundle)}
    except Exception:
        return None
    if TimestampSource.TIMESTAMP_AUTHORITY in sources:
        return "rfc3161"
    return "rekor" if sources else "none"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def _check_statement(
    verified: _Verified, purpose: str, facts: dict[str, Any], errors: list[str]
) -> dict[str, Any] | None:
    """Checks the verified in-toto statement; fills predicate/subject facts."""
    if verified.payload_type != IN_TOTO_PAYLOAD_TYPE:
        errors.append(f"DSSE payload type is {verified.payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE}")
        return None
    try:
        statement = json.loads(verified.payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        errors.append("signed payload is not valid JSON")
        return None
    if not isinstance(statement, dict) or statement.get("_type") != IN_TOTO_STATEMENT_V1:
        errors.append(f"signed payload is not an in-toto statement ({IN_TOTO_STATEMENT_V1})")
        return None
    predicate_type = statement.get("predicateType")
    facts["predicate_type"] = predicate_type if isinstance(predicate_type, str) else None
    subjects = statement.get("subject")
    if purpose == "model" and predicate_type == LEGACY_MODEL_PREDICATE:
        facts["legacy"] = True
        errors.append(
            f"legacy model-signing format ({LEGACY_MODEL_PREDICATE}): one subject per file and "
            "no root digest, so it cannot be bound to a declared digest; re-sign with "
            "model-signing 1.x"
        )
        return statement
    expected = _PURPOSE_PREDICATES[purpose]
    if predicate_type != expected:
        errors.append(
            f"unexpected predicate type {str(predicate_type)[:200]!r} for a {purpose} "
            f"signature (expected {expected})"
        )
        return None
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        errors.append("statement must have exactly one subject")
        return None
    digest = (subjects[0].get("digest") or {}).get("sha256")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        errors.append("statement subject has no sha256 digest")
        return None
    if purpose == "model":
        problem = _manifest_problem(statement.get("predicate"), digest)
        if problem:
            errors.append(problem)
            return None
    facts["subject_digest"] = f"sha256:{digest}"
    return statement


def _manifest_problem(predicate: Any, root_digest: str) -> str | None:
    # The root digest is sha256 over the resource digests in predicate order (model_signing
    # Payload); a statement whose resources do not hash to it is not a model signature.
    resources = predicate.get("resources") if isinstance(predicate, dict) else None
    if not isinstance(resources, list):
        return "model signature predicate has no resources list"
    hasher = hashlib.sha256()
    try:
        for resource in resources:
            hasher.update(bytes.fromhex(resource["digest"]))
    except (TypeError, KeyError, ValueError):
        return "model signature predicate has a malformed resource digest"
    if hasher.hexdigest() != root_digest:
        return (
            f"model signature is inconsistent: its resources hash to sha256:{hasher.hexdigest()},"
            f" not the subject digest sha256:{root_digest}"
        )
    return None


# --- directories -------------------------------------------------------------------------


def _ignore_list(
    model_dir: Path, ignore: Sequence[str | Path], extra: Sequence[str] = ()
) -> list[str]:
    """Paths to leave out, relative to the model directory (model_signing's convention)."""
    root = model_dir.resolve()
    out = list(DEFAULT_IGNORE) + list(extra)
    for item in ignore:
        path = Path(item)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(root)
            except ValueError:
                continue  # outside the model: nothing to ignore
        out.append(path.as_posix())
    return list(dict.fromkeys(out))


def _hashing_config(
    ignore: list[str], serialization: dict[str, Any] | None = None
) -> hashing.Config:
    from model_signing import hashing

    config = hashing.Config()
    args = serialization or {"method": "files", "hash_type": "sha256"}
    symlinks = args.get("allow_symlinks") in (True, "true", "True")
    if args.get("method") == "shards":
        config.use_shard_serialization(
            hashing_algorithm=args.get("hash_type", "sha256"),
            shard_size=int(args["shard_size"]),
            allow_symlinks=symlinks,
        )
    elif args.get("method") == "files":
        config.use_file_serialization(
            hashing_algorithm=args.get("hash_type", "sha256"), allow_symlinks=symlinks
        )
    else:
        raise InputError(f"unsupported model-signing serialization {args.get('method')!r}")
    return config.set_allow_symlinks(symlinks).set_ignored_paths(paths=ignore)


def _require_model(model_path: Path) -> None:
    # A directory, or a single file (GGUF, safetensors, ONNX) as OpenSSF model signing signs.
    if not (model_path.is_dir() or model_path.is_file()):
        raise InputError("not a model directory or file", location=str(model_path))


def default_signature_path(model_path: Path) -> Path:
    """``DIR/model.sig`` for a directory, ``FILE.sig`` next to a single-file model."""
    if model_path.is_file():
        return model_path.with_name(model_path.name + ".sig")
    return model_path / DEFAULT_SIGNATURE_NAME


def _statement_for_dir(model_dir: Path, ignore: Sequence[str | Path]) -> dict[str, Any]:
    from google.protobuf import json_format
    from model_signing._signing import signing

    _require_model(model_dir)
    try:
        manifest = _hashing_config(_ignore_list(model_dir, ignore)).hash(model_dir)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot hash model: {err}", location=str(model_dir)) from None
    # model_signing's Payload is the definition of the root digest; reuse it verbatim. Its
    # ignore list comes from a set: sort it so that signing the same files is reproducible.
    statement = json.loads(json_format.MessageToJson(signing.Payload(manifest).statement.pb))
    serialization = statement["predicate"]["serialization"]
    if "ignore_paths" in serialization:
        serialization["ignore_paths"] = sorted(serialization["ignore_paths"])
    return statement


def model_digest(model_dir: str | Path, ignore: Sequence[str | Path] = ()) -> str:
    """``sha256:<hex>``: the root digest a model-signing signature of this directory names."""
    statement = _statement_for_dir(Path(model_dir), ignore)
    return "sha256:" + statement["subject"][0]["digest"]["sha256"]


def sign_model(
    model_dir: str | Path,
    *,
    signature_path: str | Path | None = None,
    key: str | Path | None = None,
    password: str | None = None,
    cert_chain: Sequence[str | Path] = (),
    keyless: bool = False,
    ignore: Sequence[str | Path] = (),
    staging: bool = False,
    identity_token: str | None = None,
    trust_config: str | Path | None = None,
) -> Path:
    """Signs a model directory; returns the signature path (default ``DIR/model.sig``).

    With ``key`` (and optionally ``cert_chain``, leaf certificate first) this writes the
    bundle model_signing writes for key/certificate signing. ``keyless`` delegates to
    model_signing's Sigstore signer (network: Fulcio, Rekor and an OIDC token).
    """
    model_dir = Path(model_dir)
    out = Path(signature_path) if signature_path else default_signature_path(model_dir)
    extra = _inside(model_dir, out)
    if keyless:
        from model_signing import signing as ms_signing

        _require_model(model_dir)
        config = ms_signing.Config().set_hashing_config(
            _hashing_config(_ignore_list(model_dir, ignore, extra))
        )
        config.use_sigstore_signer(
            use_staging=staging,
            identity_token=identity_token,
            trust_config=Path(trust_config) if trust_config else None,
            use_ambient_credentials=identity_token is None,
        ).sign(model_dir, out)
        return out
    if key is None:
        raise InputError("signing needs a private key (--key) or --keyless")
    signer = KeySigner.from_files(Path(key), [Path(p) for p in cert_chain], password)
    statement = _statement_for_dir(model_dir, [*ignore, *extra])
    payload = json.dumps(statement, indent=2, sort_keys=True).encode()
    out.write_bytes(signer.sign_dsse(payload))
    return out


def unverified_subject_digest(bundle: bytes) -> str | None:
    """The subject digest a bundle *claims* (no verification): for messages, never trust."""
    try:
        envelope = json.loads(bundle)["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        return "sha256:" + statement["subject"][0]["digest"]["sha256"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _inside(model_dir: Path, path: Path) -> list[str]:
    try:
        return [path.resolve().relative_to(model_dir.resolve()).as_posix()]
    except ValueError:
        return []


@dataclass(frozen=True)
class DirVerification:
    ok: bool
    message: str
    facts: dict[str, Any]


def verify_model_dir(
    model_dir: str | Path,
    bundle: bytes,
    trust: TrustPolicy,
    scope: Scope = ANYWHERE,
    *,
    expect_digest: str | None = None,
    ignore: Sequence[str | Path] = (),
    signature_path: str | Path | None = None,
) -> DirVerification:
    """Verifies the files of a model against a signature, and optionally its root digest.

    This is the pod-start check: the webhook admitted ``expect_digest`` on the strength of
    the signature alone; here the bytes on disk must be what was signed.
    """
    from model_signing._signing import signing

    model_dir = Path(model_dir)
    _require_model(model_dir)
    facts, statement = inspect_bundle(
        bundle, expect_digest, trust, scope, purpose="model", source="file"
    )
    # Without an expected digest there is nothing to match, so "trusted" (which needs one)
    # is too strict here: the signer must be allowed and the statement usable.
    if facts["authority"] is None or statement is None:
        return DirVerification(False, facts["error"] or "signature not trusted", facts)
    if expect_digest is not None and not facts["trusted"]:
        return DirVerification(False, facts["error"] or "digest mismatch", facts)
    try:
        expected = signing.dsse_payload_to_manifest(statement)
        serialization = expected.serialization_type
        extra = [*serialization.get("ignore_paths", [])]
        if signature_path is not None:
            extra += _inside(model_dir, Path(signature_path))
        actual = _hashing_config(_ignore_list(model_dir, ignore, extra), serialization).hash(
            model_dir
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        return DirVerification(False, f"cannot check model files: {err}", facts)
    problems = _manifest_diff(
        {r.identifier: r.digest.digest_hex for r in actual.resource_descriptors()},
        {r.identifier: r.digest.digest_hex for r in expected.resource_descriptors()},
    )
    if problems:
        return DirVerification(False, "model files do not match the signature: " + problems, facts)
    note = " (legacy signature format: no root digest)" if facts["legacy"] else ""
    digest = facts["subject_digest"] or "files"
    signer = f"{facts['identity']} ({facts['method']}, authority {facts['authority']})"
    return DirVerification(
        True, f"verified {model_dir} = {digest}, signed by {signer}{note}", facts
    )


def _manifest_diff(actual: dict[str, str], expected: dict[str, str]) -> str:
    parts = []
    if extra := sorted(set(actual) - set(expected)):
        parts.append("unsigned files: " + ", ".join(extra[:10]))
    if missing := sorted(set(expected) - set(actual)):
        parts.append("missing files: " + ", ".join(missing[:10]))
    if changed := sorted(k for k in set(actual) & set(expected) if actual[k] != expected[k]):
        parts.append("modified files: " + ", ".join(changed[:10]))
    return "; ".join(parts)
