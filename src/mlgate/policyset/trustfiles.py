"""The files trust.yaml points to: keys, CA certificates and Sigstore trust configurations.

They decide which signatures are trusted as much as the Rego does, so the policy revision
hashes them and the reloader watches them: replacing a PEM that trust.yaml references loads
a new policy set (and a new revision), exactly like editing trust.yaml itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import InputError, PolicyError
from mlgate.policyset.yamlfile import LineMap, load_yaml_file

TRUST_FILE = "trust.yaml"


@dataclass(frozen=True)
class TrustedFile:
    ref: str  # as written in trust.yaml (stable across machines: the revision uses it)
    path: Path  # resolved, for reading and watching
    digest: bytes


def _references(doc: Any) -> list[tuple[str, str]]:
    """(JSON pointer, path as written) for every file reference in a trust document."""
    refs: list[tuple[str, str]] = []
    authorities = doc.get("authorities") if isinstance(doc, dict) else None
    for i, item in enumerate(authorities if isinstance(authorities, list) else []):
        if not isinstance(item, dict):
            continue
        where = f"/authorities/{i}"
        key = item.get("key")
        if isinstance(key, dict) and isinstance(key.get("path"), str):
            refs.append((f"{where}/key/path", key["path"]))
        certificate = item.get("certificate")
        cas = certificate.get("ca") if isinstance(certificate, dict) else None
        for j, ca in enumerate(cas if isinstance(cas, list) else []):
            if isinstance(ca, dict) and isinstance(ca.get("path"), str):
                refs.append((f"{where}/certificate/ca/{j}/path", ca["path"]))
        keyless = item.get("keyless")
        if isinstance(keyless, dict) and isinstance(keyless.get("trust_config"), str):
            refs.append((f"{where}/keyless/trust_config", keyless["trust_config"]))
    return refs


def trusted_files(root: Path) -> tuple[TrustedFile, ...]:
    """Every file ``root/trust.yaml`` references, read once; PolicyError naming file:line."""
    path = root / TRUST_FILE
    if not path.exists():
        return ()
    try:
        doc, lines = load_yaml_file(path)
    except InputError as err:
        raise PolicyError(err.message, location=err.location, code=err.code) from None
    return tuple(_read(root, pointer, ref, lines) for pointer, ref in _references(doc))


def _read(root: Path, pointer: str, ref: str, lines: LineMap) -> TrustedFile:
    resolved = (root / ref).resolve()
    try:
        data = resolved.read_bytes()
    except OSError as err:
        raise PolicyError(
            f"cannot read {ref}: {err.strerror or err}",
            location=lines.where(pointer),
            code="trust.unreadable_file",
        ) from None
    return TrustedFile(ref=ref, path=resolved, digest=hashlib.sha256(data).digest())


def hash_into(digest: Any, files: tuple[TrustedFile, ...]) -> None:
    for f in sorted(files, key=lambda f: f.ref):
        digest.update(b"trust-ref\0" + f.ref.encode() + b"\0" + f.digest + b"\0")
