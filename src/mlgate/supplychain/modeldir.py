"""Model directories: the root digest, signing, and the pod-start verification of the files.

Hashing is ``model_signing``'s (its manifest and Payload define the root digest a signature
names); the signature itself is checked by :func:`mlgate.supplychain.signature.inspect_bundle`,
the same path admission uses, and then the files on disk are compared with the signed manifest.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate._internal.model_signing import manifest_of, statement_of
from mlgate.errors import InputError
from mlgate.supplychain.dsse import KeySigner
from mlgate.supplychain.signature import inspect_bundle
from mlgate.supplychain.trust import Scope, TrustPolicy

if TYPE_CHECKING:
    from model_signing import hashing

DEFAULT_SIGNATURE_NAME = "model.sig"
DEFAULT_IGNORE = (DEFAULT_SIGNATURE_NAME,)
ANYWHERE = Scope(environment="*", namespace="*")


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
    _require_model(model_dir)
    try:
        manifest = _hashing_config(_ignore_list(model_dir, ignore)).hash(model_dir)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot hash model: {err}", location=str(model_dir)) from None
    # model_signing's Payload is the definition of the root digest; reuse it verbatim. Its
    # ignore list comes from a set: sort it so that signing the same files is reproducible.
    statement = statement_of(manifest)
    serialization = statement["predicate"]["serialization"]
    if "ignore_paths" in serialization:
        serialization["ignore_paths"] = sorted(serialization["ignore_paths"])
    return statement


def model_digest(model_dir: str | Path, ignore: Sequence[str | Path] = ()) -> str:
    """``sha256:<hex>``: the root digest a model-signing signature of this directory names."""
    statement = _statement_for_dir(Path(model_dir), ignore)
    return "sha256:" + str(statement["subject"][0]["digest"]["sha256"])


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
        return "sha256:" + str(statement["subject"][0]["digest"]["sha256"])
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
        expected = manifest_of(statement)
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
