"""Key and certificate builders shared by the supply-chain and bundle tests.

Everything here is generated fresh per call (no key material in the repository): EC keys on
the curves model signing accepts, RSA keys for OPA bundle signing, and X.509 chains
root CA -> intermediate CA -> code-signing leaf.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def spki_pem(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_pem(key: PrivateKey) -> bytes:
    return spki_pem(key.public_key())


def new_public_pem(curve: ec.EllipticCurve | None = None) -> bytes:
    """The PEM public key of a fresh EC key (P-256 by default)."""
    return public_pem(ec.generate_private_key(curve or ec.SECP256R1()))


def write_key(path: Path, curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    """A fresh EC key: PKCS#8 PEM at ``path``, its public key at ``path.with_suffix(".pub")``."""
    key = ec.generate_private_key(curve or ec.SECP256R1())
    path.write_bytes(private_pem(key))
    path.with_suffix(".pub").write_bytes(public_pem(key))
    return key


def write_keypair(directory: Path, kind: str) -> tuple[Path, Path]:
    """``(private, public)`` PEM files of a fresh ``rsa`` (2048-bit) or ``ec`` (P-256) key."""
    key: PrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    private, public = directory / f"{kind}.pem", directory / f"{kind}.pub"
    private.write_bytes(private_pem(key))
    public.write_bytes(public_pem(key))
    return private, public


def certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    email: str | None = None,
) -> x509.Certificate:
    """A CA certificate, or a code-signing leaf (with an e-mail SAN when given)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = (
        (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]), issuer[1])
        if issuer
        else (name, key)
    )
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        if email:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
            )
    return builder.sign(issuer_key, hashes.SHA256())


def make_chain(tmp: Path, leaf_name: str = "ml-release") -> dict[str, Path]:
    """Root CA -> intermediate -> leaf (EC P-256); PEM files under ``tmp``.

    Keys: ``root``, ``int``, ``leaf`` (certificates) and ``key`` (the leaf's private key).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    int_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = write_key(tmp / "leaf.key")
    root = certificate("test-root-ca", root_key, None, ca=True)
    inter = certificate("test-intermediate-ca", int_key, ("test-root-ca", root_key), ca=True)
    leaf = certificate(
        leaf_name,
        leaf_key,
        ("test-intermediate-ca", int_key),
        ca=False,
        email=f"{leaf_name}@example.com",
    )
    paths = {"root": tmp / "root.pem", "int": tmp / "int.pem", "leaf": tmp / "leaf.pem"}
    for key, cert in (("root", root), ("int", inter), ("leaf", leaf)):
        paths[key].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"] = tmp / "leaf.key"
    return paths


def make_model(path: Path) -> Path:
    """A small model directory to sign: two files and a sub-directory."""
    (path / "sub").mkdir(parents=True)
    (path / "config.json").write_text('{"layers": 2}\n')
    (path / "weights.bin").write_bytes(bytes(range(64)))
    (path / "sub" / "tokenizer.txt").write_text("a b c\n")
    return path
