"""OPA-compatible policy bundles: build, sign, verify, load (DESIGN.md sections 3.1 and 8).

Layout of ``bundle.tar.gz`` (what ``opa run --bundle`` and ``Engine.from_bundle`` both read):

  .manifest          {"revision", "roots": ["mlgate"], "rego_version": 1, "metadata": {...}}
  data.json          the policy set's base document ({"mlgate": {"params", "controls"}})
  .signatures.json   {"signatures": [JWT]} when signed
  <every other file of the policy directory, at its relative path>
                     *.rego modules (OPA loads them), and controls.yaml, params.yaml,
                     exemptions.yaml, trust.yaml, keys... which the Python decision layer needs.

OPA loads only ``*.rego``, ``data.json`` and files *named* ``data.yaml``/``data.yml`` from a
bundle; any other file is read, size-checked and, in a signed bundle, hash-verified, then
ignored (v1/bundle/bundle.go, Reader.Read). So the YAML sources ride along untouched and are
covered by the signature. A policy directory that itself contains a file OPA would interpret
(``data.json``, ``data.yaml``, ``.manifest``, ``patch.json``, ``policy.wasm``...) is refused:
OPA would load it and the embedded engine would not.

Signatures follow OPA exactly (v1/bundle/sign.go, verify.go, hash.go): one compact JWS whose
payload is ``{"files": [{"name", "hash", "algorithm": "SHA-256"}], "keyid": ID}``, with ``kid``
in the header; the hashing and the JWS live in ``bundle_sign``. Verification is exact: the
signed file list must equal the bundle (no extra, no missing, no changed file).

About 400 lines because building, reading, verifying and loading are one format's round trip
(what ``build_bundle`` writes, ``read_bundle``/``verify_files`` must accept under the same
rules); the JWS and hashing already live in ``bundle_sign``.
"""

from __future__ import annotations

import atexit
import dataclasses
import gzip
import io
import json
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlgate.errors import MlgateError, PolicyError, VerificationError
from mlgate.policyset.bundle_sign import (
    ALGORITHMS,
    DATA,
    MANIFEST,
    default_alg,
    file_hash,
    load_private_key,
    load_public_key,
    sign_jws,
    verify_jws,
)
from mlgate.policyset.policyset import PolicySet, load_policy_set

__all__ = [
    "ALGORITHMS",
    "Signing",
    "Verified",
    "build_bundle",
    "bundle_contents",
    "file_hash",
    "load_bundle",
    "read_bundle",
    "signatures_file",
    "verify_bundle",
    "verify_files",
]

SIGNATURES = ".signatures.json"
ROOTS = ["mlgate"]
# Basenames OPA gives a meaning to in a bundle; a policy directory must not contain them.
OPA_RESERVED = frozenset(
    {
        DATA,
        "data.yaml",
        "data.yml",
        MANIFEST,
        ".manifest.pb",
        SIGNATURES,
        "patch.json",
        "policy.wasm",
        "plan.json",
        "plan.pb",
    }
)
DEFAULT_KEY_ID = "default"  # what `opa run --verification-key-id` assumes when not given
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_FILES = 5000
# -- build --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signing:
    key_path: Path
    alg: str | None = None  # default: RS256 for an RSA key, ES256 for an EC key
    key_id: str = DEFAULT_KEY_ID


def _package_of(source: str) -> str | None:
    m = re.search(r"^\s*package\s+([\w.]+)", source, re.MULTILINE)
    return m.group(1) if m else None


def _source_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .git, editor droppings; never part of a policy set
        if path.is_symlink():
            raise PolicyError(
                "symbolic links are not allowed in a policy bundle", location=str(path)
            )
        if not path.is_file():
            continue
        if path.name in OPA_RESERVED:
            raise PolicyError(
                f"{path.name} has a meaning for OPA inside a bundle (it would be loaded by OPA but "
                "not by the embedded engine); rename it",
                location=str(path),
            )
        files[rel.as_posix()] = path.read_bytes()
    if len(files) > MAX_FILES:
        raise PolicyError(f"policy directory has more than {MAX_FILES} files", location=str(root))
    return files


def bundle_contents(policy_set: PolicySet, revision: str | None = None) -> dict[str, bytes]:
    """Every file of the (unsigned) bundle, by name; deterministic for a given policy set."""
    for rel, source in {**policy_set.modules, **policy_set.test_modules}.items():
        package = _package_of(source) or ""
        if package.split(".")[0] not in ROOTS:
            raise PolicyError(
                f"package {package or '?'} is outside the bundle roots {ROOTS}", location=rel
            )
    if set(policy_set.data) - set(ROOTS):
        raise PolicyError(
            f"data keys {sorted(set(policy_set.data) - set(ROOTS))} are outside the roots {ROOTS}"
        )
    files = _source_files(policy_set.root)
    manifest = {
        "revision": revision or policy_set.revision,
        "roots": ROOTS,
        "rego_version": 1,
        # content_revision lets load_bundle recompute and compare when --revision renamed it.
        "metadata": {"mlgate": {"content_revision": policy_set.revision, "format": 1}},
    }
    files[MANIFEST] = json.dumps(manifest, sort_keys=True, indent=1).encode() + b"\n"
    files[DATA] = json.dumps(policy_set.data, sort_keys=True, ensure_ascii=False).encode() + b"\n"
    return files


def signatures_file(files: dict[str, bytes], signing: Signing) -> bytes:
    key = load_private_key(signing.key_path)
    alg = signing.alg or default_alg(key)
    entries = [
        {"name": name, "hash": file_hash(name, raw), "algorithm": "SHA-256"}
        for name, raw in sorted(files.items())
    ]
    # "keyid" in the payload is deprecated in OPA but still read when the header has no kid.
    token = sign_jws({"files": entries, "keyid": signing.key_id}, key, alg, signing.key_id)
    return json.dumps({"signatures": [token]}, indent=1).encode() + b"\n"


def _write_tar(out: Path, files: dict[str, bytes]) -> None:
    # Reproducible: sorted names, fixed mtime/owner/mode, gzip without a timestamp.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[name]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())
    tmp.replace(out)


def build_bundle(
    policy_dir: Path | str | PolicySet,
    out: Path | str,
    *,
    signing: Signing | None = None,
    revision: str | None = None,
) -> dict[str, Any]:
    """Writes the bundle tarball; returns a summary (revision, files, signed)."""
    policy_set = policy_dir if isinstance(policy_dir, PolicySet) else load_policy_set(policy_dir)
    files = bundle_contents(policy_set, revision)
    if signing is not None:
        files[SIGNATURES] = signatures_file(files, signing)
    _write_tar(Path(out), files)
    return {
        "bundle": str(out),
        "revision": revision or policy_set.revision,
        "content_revision": policy_set.revision,
        "files": sorted(files),
        "signed": signing is not None,
    }


# -- read and verify ----------------------------------------------------------------------


def read_bundle(path: Path | str) -> dict[str, bytes]:
    """The files of a bundle tarball, by name; refuses anything a safe extraction would not."""
    path = Path(path)
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise MlgateError("bundle not found", location=str(path)) from None
    except (tarfile.TarError, OSError) as err:
        raise MlgateError(f"not a bundle tarball: {err}", location=str(path)) from None
    files: dict[str, bytes] = {}
    total = 0
    with tar:
        try:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise VerificationError(f"bundle member {member.name!r} is not a regular file")
                name = member.name.removeprefix("/")
                parts = PurePosixPath(name).parts
                if not name or ".." in parts or name.startswith("/") or "." in parts:
                    raise VerificationError(f"bundle member {member.name!r} has an unsafe path")
                if name in files:
                    raise VerificationError(f"bundle contains {name!r} twice")
                total += member.size
                if total > MAX_BUNDLE_BYTES or len(files) >= MAX_FILES:
                    raise VerificationError(
                        f"bundle is larger than {MAX_BUNDLE_BYTES} bytes or {MAX_FILES} files"
                    )
                extracted = tar.extractfile(member)
                files[name] = extracted.read() if extracted else b""
        except (tarfile.TarError, OSError, EOFError) as err:
            raise MlgateError(f"corrupt bundle tarball: {err}", location=str(path)) from None
    return files


@dataclass(frozen=True)
class Verified:
    revision: str
    key_id: str
    alg: str
    files: tuple[str, ...]


def verify_files(
    files: dict[str, bytes],
    public_key: Path | Any,
    *,
    alg: str | None = None,
    key_id: str | None = None,
    scope: str = "",
) -> Verified:
    """Checks ``.signatures.json`` and that the signed file list equals the bundle, exactly.

    Raises VerificationError naming the first problem: a missing signature, a bad signature,
    a changed file (digest mismatch), a file that is not signed, a signed file that is missing.
    """
    key = load_public_key(Path(public_key)) if isinstance(public_key, Path | str) else public_key
    alg = alg or default_alg(key)
    raw = files.get(SIGNATURES)
    if raw is None:
        raise VerificationError(
            "bundle is not signed (no .signatures.json)", code="bundle.not_signed"
        )
    try:
        tokens = json.loads(raw).get("signatures")
    except (ValueError, AttributeError):
        raise VerificationError(".signatures.json is not a JSON object") from None
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise VerificationError(".signatures.json must hold exactly one JWT (as OPA requires)")
    header, payload = verify_jws(tokens[0], key, alg)
    signed_kid = header.get("kid") or payload.get("keyid") or ""
    if key_id is not None and signed_kid != key_id:
        raise VerificationError(
            f"bundle was signed with key id {signed_kid!r}, expected {key_id!r}",
            code="bundle.key_id_mismatch",
        )
    if payload.get("scope", "") != scope:
        raise VerificationError(
            f"signature scope {payload.get('scope')!r} does not match {scope!r}"
        )
    entries = payload.get("files")
    if not isinstance(entries, list):
        raise VerificationError("signature payload has no file list")
    signed: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise VerificationError("signature payload has a malformed file entry")
        signed[entry["name"]] = entry
    present = {name for name in files if name != SIGNATURES}
    for name in sorted(present):
        entry = signed.get(name)
        if entry is None:
            raise VerificationError(
                "file is not included in the bundle signature",
                location=name,
                code="bundle.unsigned_file",
            )
        got = file_hash(name, files[name], str(entry.get("algorithm") or ""))
        if got != str(entry.get("hash", "")).lower():
            raise VerificationError(
                "digest mismatch (the file was changed after signing)",
                location=name,
                code="bundle.digest_mismatch",
            )
    missing = sorted(set(signed) - present)
    if missing:
        raise VerificationError(
            f"file(s) {', '.join(missing)} are signed but missing from the bundle",
            code="bundle.missing_file",
        )
    manifest = _manifest(files)
    return Verified(str(manifest.get("revision", "")), str(signed_kid), alg, tuple(sorted(present)))


def _manifest(files: dict[str, bytes]) -> dict[str, Any]:
    raw = files.get(MANIFEST)
    if raw is None:
        raise PolicyError("bundle has no .manifest")
    try:
        manifest = json.loads(raw)
    except ValueError as err:
        raise PolicyError(f"bundle .manifest is not JSON: {err}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("revision"), str):
        raise PolicyError("bundle .manifest has no revision")
    return manifest


def verify_bundle(
    path: Path | str, public_key: Path | Any, *, alg: str | None = None, key_id: str | None = None
) -> Verified:
    return verify_files(read_bundle(path), public_key, alg=alg, key_id=key_id)


_EXTRACTED: list[Path] = []


@atexit.register
def _cleanup() -> None:
    for path in _EXTRACTED:
        shutil.rmtree(path, ignore_errors=True)


def load_bundle(
    path: Path | str,
    verification_key: Path | str | Any | None = None,
    *,
    alg: str | None = None,
    key_id: str | None = None,
    allow_unsigned: bool = False,
) -> PolicySet:
    """A PolicySet from a bundle, verified before any of it is used.

    Without a verification key the bundle is refused unless ``allow_unsigned`` says otherwise.
    The checked bytes are written to a private directory (removed at exit) and loaded with the
    usual loader, so a bundle passes every check a policy directory does; ``data.json`` must
    then equal what the loader computes, or OPA and the decision layer would disagree.
    """
    files = read_bundle(path)
    if verification_key is not None:
        verify_files(files, verification_key, alg=alg, key_id=key_id)
    elif not allow_unsigned:
        raise VerificationError(
            "refusing to load a bundle without a verification key",
            location=str(path),
            code="bundle.no_key",
        )
    manifest = _manifest(files)
    if manifest.get("roots", [""]) != ROOTS:
        raise PolicyError(
            f"bundle roots are {manifest.get('roots')}, expected {ROOTS}", location=str(path)
        )
    target = Path(tempfile.mkdtemp(prefix="mlgate-bundle-"))
    _EXTRACTED.append(target)
    for name, raw in files.items():
        if name in (MANIFEST, SIGNATURES, DATA):
            continue
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(raw)
    policy_set = load_policy_set(target)
    if DATA not in files or json.loads(files[DATA]) != _plain(policy_set.data):
        raise PolicyError(
            "data.json does not match the data computed from the bundle's controls.yaml and "
            "params.yaml; rebuild it with `mlgate bundle build`",
            location=str(path),
        )
    content = ((manifest.get("metadata") or {}).get("mlgate") or {}).get("content_revision")
    if content is not None and content != policy_set.revision:
        raise PolicyError(
            f"bundle content revision {content} does not match its files ({policy_set.revision})",
            location=str(path),
        )
    return dataclasses.replace(policy_set, revision=manifest["revision"])


def _plain(value: Any) -> Any:
    """JSON round trip, so tuples compare equal to the lists a parsed data.json has."""
    return json.loads(json.dumps(value))
