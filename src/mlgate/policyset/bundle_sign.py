"""OPA's bundle signature format, byte for byte: file hashes and the JWS (sign and verify).

Follows OPA v1.22 (v1/bundle/hash.go, sign.go, verify.go). A structured file (``data.json``,
``data.yaml``, ``.manifest``) is hashed over a canonical form: objects with keys sorted, no
whitespace, strings as Go's encoding/json writes them (HTML escaping off) and numbers as their
literal text (OPA decodes with UseNumber). Any other file is hashed over its raw bytes. The
signature is one compact JWS built here with ``cryptography`` (PyJWT is only a transitive
dependency of sigstore, and its claim handling is not needed). The algorithm is always the
one the verifier expects, never the one the token names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from mlgate.errors import MlgateError, VerificationError

MANIFEST = ".manifest"
DATA = "data.json"
STRUCTURED = frozenset({DATA, MANIFEST, "data.yaml", "data.yml"})
ALGORITHMS = ("RS256", "ES256")

# Hash algorithms OPA accepts in .signatures.json, minus the broken ones (MD5, SHA-1).
_HASHES: dict[str, Callable[[], Any]] = {
    "SHA-224": hashlib.sha224,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
    "SHA-512-224": lambda: hashlib.new("sha512_224"),
    "SHA-512-256": lambda: hashlib.new("sha512_256"),
}


# -- OPA's file hash ----------------------------------------------------------------------


class _Number(str):
    """A JSON number kept as its literal text, as Go's json.Number is."""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_structured(raw: bytes, name: str) -> Any:
    if raw.startswith(b"\xef\xbb\xbf"):  # OPA strips a UTF-8 BOM first
        raw = raw[3:]
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_no_constants,
        )
    except (UnicodeDecodeError, ValueError) as err:
        raise VerificationError(f"{name}: not valid JSON: {err}") from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _go_string(text: str) -> bytes:
    """A JSON string exactly as Go's encoding/json writes it with SetEscapeHTML(false)."""
    text = _SURROGATE.sub("\ufffd", text)  # Go decodes an unpaired surrogate escape to U+FFFD
    out = json.dumps(text, ensure_ascii=False)
    # Python and Go agree on \" \\ \b \f \n \r \t and \u00XX (lowercase) for other controls;
    # Go also escapes the JavaScript line separators.
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode("utf-8")


def _canonical(value: Any, out: list[bytes]) -> None:
    if isinstance(value, dict):
        out.append(b"{")
        # Go sorts keys as byte strings; UTF-8 keeps code-point order, so str order matches.
        for i, key in enumerate(sorted(value)):
            if i:
                out.append(b",")
            out.append(_go_string(key))
            out.append(b":")
            _canonical(value[key], out)
        out.append(b"}")
    elif isinstance(value, list):
        out.append(b"[")
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            _canonical(item, out)
        out.append(b"]")
    elif isinstance(value, _Number):
        out.append(str(value).encode("ascii"))
    elif isinstance(value, str):
        out.append(_go_string(value))
    elif value is True:
        out.append(b"true")
    elif value is False:
        out.append(b"false")
    elif value is None:
        out.append(b"null")
    else:  # pragma: no cover - _parse_structured yields only the types above
        raise TypeError(f"unexpected JSON value {value!r}")


def file_hash(name: str, raw: bytes, algorithm: str = "SHA-256") -> str:
    """The hex digest OPA records for bundle file ``name`` (structured or raw)."""
    factory = _HASHES.get(algorithm)
    if factory is None:
        raise VerificationError(f"{name}: unsupported or weak hash algorithm {algorithm!r}")
    h = factory()
    if PurePosixPath(name).name in STRUCTURED:
        parts: list[bytes] = []
        _canonical(_parse_structured(raw, name), parts)
        for part in parts:
            h.update(part)
    else:
        h.update(raw)
    return str(h.hexdigest())


# -- JWS ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_private_key(path: Path) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise MlgateError("signing key not found", location=str(path)) from None
    except (ValueError, TypeError) as err:
        raise MlgateError(
            f"not an unencrypted PEM private key: {err}", location=str(path)
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise MlgateError("signing key must be RSA or ECDSA (P-256)", location=str(path))
    return key


def load_public_key(path: Path) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A PEM public key or certificate, as ``opa run --verification-key`` accepts."""
    from cryptography import x509

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MlgateError("verification key not found", location=str(path)) from None
    try:
        if b"BEGIN CERTIFICATE" in data:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as err:
        raise MlgateError(
            f"not a PEM public key or certificate: {err}", location=str(path)
        ) from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise MlgateError("verification key must be RSA or ECDSA (P-256)", location=str(path))
    return key


def default_alg(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    return "ES256"


def _check_alg(key: Any, alg: str) -> None:
    if alg not in ALGORITHMS:
        raise MlgateError(
            f"unsupported signing algorithm {alg!r} (use one of {', '.join(ALGORITHMS)})"
        )
    is_rsa = isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey)
    if (alg == "RS256") != is_rsa:
        raise MlgateError(f"{alg} needs {'an RSA' if alg == 'RS256' else 'a P-256 ECDSA'} key")
    if alg == "ES256" and not isinstance(key.curve, ec.SECP256R1):
        raise MlgateError(f"ES256 needs a P-256 key, not {key.curve.name}")


def sign_jws(payload: dict[str, Any], key: Any, alg: str, key_id: str) -> str:
    _check_alg(key, alg)
    header = {"alg": alg, "kid": key_id, "typ": "JWT"}
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(payload, separators=(",", ":")).encode())
    )
    if alg == "RS256":
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        # JWS wants the raw 64-byte r||s, not the DER that cryptography produces.
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + _b64(signature)


def verify_jws(token: str, key: Any, alg: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Checks a compact JWS with ``key`` and the *expected* ``alg`` (never the header's)."""
    _check_alg(key, alg)
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationError("signature is not a compact JWS (header.payload.signature)")
    try:
        header = json.loads(_unb64(parts[0]))
        payload = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except ValueError as err:
        raise VerificationError(f"malformed JWS: {err}") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise VerificationError("malformed JWS: header and payload must be JSON objects")
    if header.get("alg") != alg:
        raise VerificationError(f"JWS algorithm is {header.get('alg')!r}, expected {alg}")
    signing_input = (parts[0] + "." + parts[1]).encode()
    try:
        if alg == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            if len(signature) != 64:
                raise InvalidSignature
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VerificationError(
            "bundle signature does not verify with the given key", code="bundle.bad_signature"
        ) from None
    return header, payload
