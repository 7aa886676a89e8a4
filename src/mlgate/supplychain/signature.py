"""Signature-only verification of model-signing bundles (Sigstore bundle v0.3, DSSE, in-toto).

The admission hot path (``inspect_bundle``/``verify_bundle``): the webhook has the bundle and
the declared ``sha256:`` root digest, never the model files. The signer is proved by
:mod:`mlgate.supplychain.signers` (key, certificate chain or Sigstore keyless); here the
statement's predicate is checked, and that its single subject digest is the declared one. It
never raises: every problem becomes a fact with an ``error`` (:mod:`mlgate.supplychain.facts`).
``verified``: some configured authority's material proves the signature. ``authority``: the
authority that accepts this signer for the scope and purpose (identity allowed). ``trusted``:
both, *and* the statement is acceptable and names the declared digest, so a policy that checks
only ``trusted`` cannot be fooled by a valid signature of another model.

Why not ``model_signing.verifying`` for the cryptography: its Sigstore verifier refreshes TUF
metadata over the network, its certificate verifier mutates a shared ``X509Store`` per call
(unsafe across threads) and its key verifier prints to stdout. One verification path here
serves admission, the CLI and the pod-start check (:mod:`mlgate.supplychain.modeldir`) alike;
model_signing's own verifier is used in the tests to prove the bundles we write are the format
it reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, TypedDict, Unpack

from mlgate.supplychain.facts import (
    BUNDLE_MEDIA_TYPES,
    GOVERNANCE_PREDICATE,
    IN_TOTO_PAYLOAD_TYPE,
    IN_TOTO_STATEMENT_V1,
    LEGACY_MODEL_PREDICATE,
    MODEL_PREDICATE,
    SignatureFacts,
    new_facts,
    normalize_digest,
)
from mlgate.supplychain.signers import (
    Rejected,
    UnknownSigner,
    Verified,
    unb64,
    verify_certificate,
    verify_key,
    verify_keyless,
)
from mlgate.supplychain.trust import DEFAULT_MAX_BUNDLE_BYTES, Scope, TrustPolicy

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PURPOSE_PREDICATES = {"model": MODEL_PREDICATE, "attestation": GOVERNANCE_PREDICATE}


class BundleOptions(TypedDict, total=False):
    """The keyword options of ``verify_bundle`` and ``inspect_bundle``."""

    purpose: str  # "model" (default) or "attestation"
    source: str  # where the bundle came from (default "inline")
    max_bytes: int  # default DEFAULT_MAX_BUNDLE_BYTES


def verify_bundle(
    bundle: bytes,
    declared_digest: str | None,
    trust: TrustPolicy,
    scope: Scope,
    **options: Unpack[BundleOptions],
) -> SignatureFacts:
    """Signature-only verification of a model signature (or attestation) bundle -> facts."""
    return inspect_bundle(bundle, declared_digest, trust, scope, **options)[0]


def inspect_bundle(
    bundle: bytes,
    declared_digest: str | None,
    trust: TrustPolicy,
    scope: Scope,
    *,
    purpose: str = "model",
    source: str = "inline",
    max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
) -> tuple[SignatureFacts, dict[str, Any] | None]:
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
    except Rejected as err:
        facts["error"] = str(err)
        if isinstance(err, UnknownSigner):
            facts["unknown_signer"], facts["identity"] = True, err.identity
        return facts, None
    except Exception as err:  # never let a malformed bundle escape into the webhook
        facts["error"] = f"bundle rejected: {type(err).__name__}: {err}"[:500]
        return facts, None
    trusted_by = [
        a
        for a in verified.authorities
        if a.applies_to(scope, purpose) and a.allows_identity(verified.names, verified.issuer)
    ]
    facts["verified"] = True
    facts["method"] = verified.method
    facts["identity"] = verified.identity
    facts["issuer"] = verified.issuer
    facts["timestamp_source"] = verified.timestamp_source
    facts["authority"] = trusted_by[0].name if trusted_by else None
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


def _verify_crypto(bundle: bytes, trust: TrustPolicy, scope: Scope, purpose: str) -> Verified:
    try:
        doc = json.loads(bundle)
    except (UnicodeDecodeError, ValueError) as err:
        raise Rejected(f"bundle is not valid JSON: {err}") from None
    except RecursionError:
        raise Rejected("bundle JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise Rejected("bundle is not a JSON object")
    media_type = doc.get("mediaType")
    if media_type not in BUNDLE_MEDIA_TYPES:
        raise Rejected(f"unsupported bundle media type {str(media_type)[:100]!r}")
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise Rejected("bundle has no DSSE envelope (bare message signatures are not accepted)")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise Rejected("bundle has no verification material")
    if "certificate" in material or material.get("tlogEntries"):
        return verify_keyless(bundle, trust, scope, purpose)
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise Rejected("DSSE envelope has no payloadType")
    payload = unb64(envelope.get("payload"), "DSSE payload")
    signatures = envelope.get("signatures")
    if (
        not isinstance(signatures, list)
        or len(signatures) != 1
        or not isinstance(signatures[0], dict)
    ):
        raise Rejected("DSSE envelope must carry exactly one signature")
    signature = unb64(signatures[0].get("sig"), "DSSE signature")
    if isinstance(material.get("publicKey"), dict):
        return verify_key(material["publicKey"], signature, payload_type, payload, trust)
    if isinstance(material.get("x509CertificateChain"), dict):
        chain = material["x509CertificateChain"].get("certificates")
        return verify_certificate(chain, signature, payload_type, payload, trust)
    raise Rejected(
        "bundle verification material is not a public key, certificate chain or certificate"
    )


def _check_statement(
    verified: Verified, purpose: str, facts: SignatureFacts, errors: list[str]
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
