"""DSSE signing: the pre-authentication encoding, signature checks and the key signer.

:class:`KeySigner` writes the Sigstore bundle (v0.3, no transparency log) that model_signing
writes for key and certificate signing; :func:`dsse_signature_ok` checks one envelope
signature, including model_signing v0.2's legacy encoding (verification only).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.errors import InputError
from mlgate.supplychain.facts import BUNDLE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE
from mlgate.supplychain.trust import PublicKey, key_hint


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (what is actually signed)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _pae_model_signing_v02(payload: bytes) -> bytes:
    # model_signing v0.2 signed the repr() of the payload bytes with a misspelt prefix; its
    # signatures are still in use, so verification (only) accepts this form too.
    kind = IN_TOTO_PAYLOAD_TYPE
    return f"DSSEV1 {len(kind)} {kind} {len(payload)} {payload!r}".encode()


def curve_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]


def dsse_signature_ok(
    key: ec.EllipticCurvePublicKey, signature: bytes, payload_type: str, payload: bytes
) -> bool:
    attempts = [(pae(payload_type, payload), curve_hash(key))]
    if payload_type == IN_TOTO_PAYLOAD_TYPE:
        legacy = _pae_model_signing_v02(payload)
        # v0.2 certificate signatures also hard-coded SHA-256 whatever the curve.
        attempts += [(legacy, curve_hash(key)), (legacy, hashes.SHA256())]
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
            pae(payload_type, payload), ec.ECDSA(curve_hash(public), deterministic_signing=True)
        )
        if self.chain:
            der = [c.public_bytes(serialization.Encoding.DER) for c in self.chain]
            material: dict[str, Any] = {
                "x509CertificateChain": {"certificates": [{"rawBytes": b64(d)} for d in der]}
            }
        else:
            material = {"publicKey": {"hint": key_hint(public)}}
        material["tlogEntries"] = []
        bundle = {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": material,
            "dsseEnvelope": {
                "payload": b64(payload),
                "payloadType": payload_type,
                "signatures": [{"sig": b64(signature), "keyid": ""}],
            },
        }
        return (json.dumps(bundle, indent=2) + "\n").encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
