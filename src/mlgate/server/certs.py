"""Development certificates: a CA, a serving certificate and optionally a client one.

File names are those of a Kubernetes TLS Secret (``tls.crt``, ``tls.key``) plus ``ca.crt``
(the ``caBundle`` of the ValidatingWebhookConfiguration). ``ca.key`` is kept so the same CA
can issue a rotated serving certificate (``--reuse-ca``). Every file is written to a temporary
name and renamed, so a watcher never reads half a file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlgate.errors import MlgateError

DEFAULT_HOSTS = (
    "mlgate-webhook.mlgate-system.svc",
    "mlgate-webhook.mlgate-system.svc.cluster.local",
    "localhost",
    "127.0.0.1",
)


@dataclass(frozen=True)
class Issued:
    ca_cert: Path
    cert: Path
    key: Path
    client_cert: Path | None = None
    client_key: Path | None = None


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mlgate"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    days: int,
    usage: x509.ObjectIdentifier,
    hosts: list[str] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        builder = builder.add_extension(_san(hosts), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _new_ca(days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("mlgate development CA"))
        .issuer_name(_name("mlgate development CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _load_ca(out: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((out / "ca.key").read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise MlgateError(
            f"cannot reuse the CA (ca.crt + ca.key): {err}", location=str(out)
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise MlgateError("ca.key is not an EC key written by `mlgate certs`", location=str(out))
    return cert, key


def issue(
    out: str | Path,
    *,
    hosts: list[str] | None = None,
    days: int = 365,
    reuse_ca: bool = False,
    client: str | None = None,
) -> Issued:
    """Writes ca.crt (+ca.key), tls.crt, tls.key and, with ``client``, client.crt/client.key."""
    if days < 1:
        raise MlgateError("--days must be at least 1")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    hosts = list(hosts or DEFAULT_HOSTS)
    for required in ("localhost", "127.0.0.1"):
        if required not in hosts:
            hosts.append(required)
    if reuse_ca and (out_dir / "ca.key").exists():
        ca_cert, ca_key = _load_ca(out_dir)
    else:
        ca_cert, ca_key = _new_ca(max(days, 3650))
        _write(out_dir / "ca.key", _pem_key(ca_key), 0o600)
        _write(out_dir / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    cert, key = _leaf(ca_cert, ca_key, hosts[0], days, ExtendedKeyUsageOID.SERVER_AUTH, hosts)
    # Key before certificate: a watcher that sees the new cert finds its key already there.
    _write(out_dir / "tls.key", _pem_key(key), 0o600)
    _write(out_dir / "tls.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    issued = Issued(out_dir / "ca.crt", out_dir / "tls.crt", out_dir / "tls.key")
    if client:
        ccert, ckey = _leaf(ca_cert, ca_key, client, days, ExtendedKeyUsageOID.CLIENT_AUTH)
        _write(out_dir / "client.key", _pem_key(ckey), 0o600)
        _write(out_dir / "client.crt", ccert.public_bytes(serialization.Encoding.PEM), 0o644)
        issued = Issued(
            issued.ca_cert, issued.cert, issued.key, out_dir / "client.crt", out_dir / "client.key"
        )
    return issued
