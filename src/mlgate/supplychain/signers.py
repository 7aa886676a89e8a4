"""Who signed a bundle: the key, certificate-chain and Sigstore keyless checks.

Each check proves the DSSE signature with the configured material of one method and returns
:class:`Verified` (the signer's identity values and the authorities whose material proved
it), or raises :class:`Rejected`, which :mod:`mlgate.supplychain.signature` turns into
``facts["error"]``. Whether that signer is *allowed* is decided there, against the scope.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate._internal.sigstore import timestamp_source
from mlgate.supplychain.dsse import dsse_signature_ok
from mlgate.supplychain.trust import Authority, PublicKey, Scope, TrustPolicy

_OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SIGSTORE_OTHERNAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


class Rejected(Exception):
    """Internal: a bundle problem that becomes ``facts["error"]``."""


class UnknownSigner(Rejected):
    """Internal: signed by a key trust.yaml does not list. The signature cannot be checked
    without the key, so it is not ``verified``; but the finding is an untrusted signer, not a
    broken signature (``unknown_signer`` and ``identity`` say so to the policy)."""

    def __init__(self, identity: str) -> None:
        super().__init__(f"signed by an unknown {identity}")
        self.identity = identity


@dataclass(frozen=True)
class Verified:
    method: str
    identity: str
    issuer: str | None
    names: tuple[str, ...]  # every identity value an authority may match (SANs, DN, key id)
    authorities: tuple[Authority, ...]  # the authorities whose material verified it
    timestamp_source: str | None
    payload_type: str
    payload: bytes


def unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise Rejected(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(f"{what} is not valid base64") from None


def verify_key(
    spec: dict[str, Any], signature: bytes, payload_type: str, payload: bytes, trust: TrustPolicy
) -> Verified:
    authorities = trust.authorities_for("key")
    if not authorities:
        raise Rejected("bundle is signed with a public key, but no key authority is configured")
    hint = spec.get("hint") if isinstance(spec.get("hint"), str) else None
    if not hint and spec.get("rawBytes"):  # older model_signing: the PEM itself, base64
        try:
            hint = PublicKey.from_pem(unb64(spec["rawBytes"], "publicKey.rawBytes")).hint
        except (Rejected, ValueError):
            hint = None
    keys = {a.key.hint: a.key for a in authorities if a.key is not None}
    candidates = [keys[hint]] if hint in keys else [] if hint else list(keys.values())
    for key in candidates:
        if dsse_signature_ok(key.key, signature, payload_type, payload):
            return Verified(
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
        raise UnknownSigner(f"public key sha256:{hint[:64]}")
    raise Rejected("signature does not verify with any configured public key")


def verify_certificate(
    chain: Any, signature: bytes, payload_type: str, payload: bytes, trust: TrustPolicy
) -> Verified:
    from cryptography.x509.verification import VerificationError

    authorities = trust.authorities_for("certificate")
    if not authorities:
        raise Rejected("bundle is signed with a certificate, but no certificate authority is set")
    if not isinstance(chain, list) or not chain:
        raise Rejected("bundle certificate chain is empty")
    try:
        certs = [
            x509.load_der_x509_certificate(unb64((c or {}).get("rawBytes"), "certificate"))
            for c in chain
        ]
    except ValueError as err:
        raise Rejected(f"bundle certificate is not valid DER: {err}") from None
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
        raise Rejected(f"certificate chain does not verify against any configured CA: {problem}")
    if not _can_sign(leaf):
        raise Rejected("signing certificate allows neither digital signatures nor code signing")
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise Rejected("signing certificate key is not a supported elliptic-curve key")
    if not dsse_signature_ok(key, signature, payload_type, payload):
        raise Rejected("signature does not verify with the signing certificate's key")
    subject = leaf.subject.rfc4514_string()
    return Verified(
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


def verify_keyless(bundle: bytes, trust: TrustPolicy, scope: Scope, purpose: str) -> Verified:
    from sigstore.models import Bundle

    authorities = trust.authorities_for("keyless")
    if not authorities:
        raise Rejected("bundle is signed keyless (Sigstore), but no keyless authority is set")
    try:
        parsed = Bundle.from_json(bundle)
    except Exception as err:  # InvalidBundle, pydantic errors
        raise Rejected(f"invalid Sigstore bundle: {first_line(err)}") from None
    # A DSSE envelope is present: the caller checked the JSON before choosing this path, and
    # verify_dsse() refuses a bundle without one.
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
            problems.append(f"{root.name}: {first_line(err)}")
            continue
        return Verified(
            method="keyless",
            identity=names[0] if names else cert.subject.rfc4514_string(),
            issuer=issuer,
            names=names,
            authorities=tuple(a for a in authorities if a.trust_root == root_id),
            timestamp_source=timestamp_source(root.verifier, parsed),
            payload_type=payload_type,
            payload=payload,
        )
    raise Rejected("Sigstore verification failed: " + "; ".join(problems))


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]
