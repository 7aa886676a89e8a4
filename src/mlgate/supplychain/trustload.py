"""Compiling trust: ``trust.yaml`` (schema-valid) or a CLI flag into a :class:`TrustPolicy`.

Everything expensive happens here, once: PEM parsing, regex compilation, reading referenced
files (their bytes go into the policy's revision) and choosing the Sigstore trust roots.
Errors name ``file:line`` of trust.yaml.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from mlgate.errors import InputError, PolicyError
from mlgate.supplychain.sigstore_roots import (
    BUILTIN_ROOTS,
    builtin_verifier,
    prebuilt,
    verifier_from_trust_config,
)
from mlgate.supplychain.trust import (
    DEFAULT_HTTP_TIMEOUT,
    DEFAULT_MAX_BUNDLE_BYTES,
    Authority,
    IdentityMatcher,
    PublicKey,
    SigstoreRoot,
    SourceConfig,
    TrustPolicy,
    default_store,
    split_anchors,
)

if TYPE_CHECKING:
    from mlgate.policyset.yamlfile import LineMap

# Identity regexes may be shown to (or reused by) Rego, whose rego-cpp engine speaks
# ECMAScript regex: reject the Python/RE2-only syntax that would mean something else there.
_NON_PORTABLE_REGEX = re.compile(r"\(\?[aiLmsux-]|\(\?P|\\[AZzpP]")


class TrustCompiler:
    """Turns a schema-valid document into a TrustPolicy; errors name ``file:line``."""

    def __init__(self, base_dir: Path, lines: LineMap) -> None:
        self.base_dir = base_dir
        self.lines = lines
        self.files: dict[str, bytes] = {}  # every referenced file, for the revision

    def fail(self, pointer: str, message: str, code: str | None = None) -> PolicyError:
        return PolicyError(message, location=self.lines.where(pointer), code=code)

    def policy(self, doc: dict[str, Any], origin: str) -> TrustPolicy:
        authorities: list[Authority] = []
        roots: dict[str, SigstoreRoot] = {}
        names: set[str] = set()
        for i, item in enumerate(doc.get("authorities", [])):
            pointer = f"/authorities/{i}"
            if item["name"] in names:
                raise self.fail(f"{pointer}/name", f"duplicate authority name {item['name']!r}")
            names.add(item["name"])
            authority = self.authority(item, pointer)
            if authority.trust_root is not None and authority.trust_root not in roots:
                roots[authority.trust_root] = self.root(authority.trust_root, item, pointer)
            authorities.append(authority)
        sources = self.sources(doc.get("sources", {}))
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
        digest = hashlib.sha256(canonical.encode())
        for name in sorted(self.files):
            digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return TrustPolicy(
            authorities=tuple(authorities),
            roots=roots,
            sources=sources,
            revision="sha256:" + digest.hexdigest(),
            origin=origin,
        )

    def read(self, pointer: str, ref: str) -> bytes:
        path = (self.base_dir / ref).resolve()
        try:
            data = path.read_bytes()
        except OSError as err:
            raise self.fail(
                pointer, f"cannot read {ref}: {err.strerror or err}", "trust.unreadable_file"
            ) from None
        self.files[str(path)] = data
        return data

    def material(self, node: dict[str, str], pointer: str) -> bytes:
        if "pem" in node:
            return node["pem"].encode()
        return self.read(f"{pointer}/path", node["path"])

    def authority(self, item: dict[str, Any], pointer: str) -> Authority:
        scope = item.get("scope", {})
        common: dict[str, Any] = {
            "name": item["name"],
            "purposes": frozenset(item["purposes"]),
            "environments": tuple(scope.get("environments", ["*"])),
            "namespaces": tuple(scope.get("namespaces", ["*"])),
        }
        if "key" in item:
            pem = self.material(item["key"], f"{pointer}/key")
            try:
                key = PublicKey.from_pem(pem)
            except ValueError as err:
                raise self.fail(f"{pointer}/key", f"invalid public key: {err}") from None
            return Authority(method="key", key=key, **common)
        if "certificate" in item:
            spec = item["certificate"]
            certs: list[x509.Certificate] = []
            for j, ca in enumerate(spec["ca"]):
                where = f"{pointer}/certificate/ca/{j}"
                try:
                    certs.extend(x509.load_pem_x509_certificates(self.material(ca, where)))
                except ValueError as err:
                    raise self.fail(where, f"invalid CA certificate PEM: {err}") from None
            identities = self.identities(spec.get("identities", []), f"{pointer}/certificate")
            anchors, intermediates = split_anchors(
                certs, bool(spec.get("allow_intermediate_anchor", False))
            )
            if not anchors:
                raise self.fail(
                    f"{pointer}/certificate/ca",
                    "no self-signed root certificate among the CA certificates; only a root "
                    "anchors a chain (set allow_intermediate_anchor: true to trust an "
                    "intermediate directly)",
                )
            return Authority(
                method="certificate",
                ca_certs=anchors,
                intermediates=intermediates,
                identities=identities,
                **common,
            )
        spec = item["keyless"]
        identities = self.identities(spec["identities"], f"{pointer}/keyless")
        if "trust_config" in spec:
            path = (self.base_dir / spec["trust_config"]).resolve()
            root = f"trust_config:{path}"
        else:
            root = spec.get("trust_root", "production")
        return Authority(method="keyless", trust_root=root, identities=identities, **common)

    def identities(self, items: list[dict[str, str]], pointer: str) -> tuple[IdentityMatcher, ...]:
        out = []
        for j, spec in enumerate(items):
            where = f"{pointer}/identities/{j}"
            out.append(
                IdentityMatcher(
                    subject=spec.get("subject"),
                    subject_regex=self.regex(spec.get("subject_regex"), f"{where}/subject_regex"),
                    issuer=spec.get("issuer"),
                    issuer_regex=self.regex(spec.get("issuer_regex"), f"{where}/issuer_regex"),
                )
            )
        return tuple(out)

    def regex(self, text: str | None, pointer: str) -> re.Pattern[str] | None:
        if text is None:
            return None
        if _NON_PORTABLE_REGEX.search(text):
            raise self.fail(
                pointer,
                f"regex {text!r} uses Python-only syntax (inline flags, named groups, \\A, \\Z, "
                "\\p); write a portable (ECMAScript-compatible) pattern",
            )
        try:
            return re.compile(text)
        except re.error as err:
            raise self.fail(pointer, f"invalid regex {text!r}: {err}") from None

    def root(self, root_id: str, item: dict[str, Any], pointer: str) -> SigstoreRoot:
        if root_id in BUILTIN_ROOTS:
            return SigstoreRoot(root_id, functools.partial(builtin_verifier, root_id))
        ref = item["keyless"]["trust_config"]
        config = self.read(f"{pointer}/keyless/trust_config", ref)
        try:
            return SigstoreRoot(ref, prebuilt(verifier_from_trust_config(config)))
        except Exception as err:  # sigstore raises several types for a bad trust config
            raise self.fail(
                f"{pointer}/keyless/trust_config", f"invalid Sigstore trust config {ref}: {err}"
            ) from None

    def sources(self, spec: dict[str, Any]) -> SourceConfig:
        store = spec.get("store")
        return SourceConfig(
            store_dir=(self.base_dir / store).resolve() if store else default_store(self.base_dir),
            http_allow=tuple(spec.get("http_allow", [])),
            max_bundle_bytes=int(spec.get("max_bundle_bytes", DEFAULT_MAX_BUNDLE_BYTES)),
            http_timeout=float(spec.get("http_timeout_seconds", DEFAULT_HTTP_TIMEOUT)),
        )


# --- ad-hoc policies for `mlgate verify --key/--cert-chain/--identity` ----------------------


def single_authority_policy(
    *,
    key_pem: bytes | None = None,
    ca_pems: Sequence[bytes] = (),
    identity: str | None = None,
    identity_regex: str | None = None,
    issuer: str | None = None,
    staging: bool = False,
    trust_config: bytes | None = None,
    purposes: Sequence[str] = ("model",),
    allow_intermediate_anchor: bool = False,
) -> TrustPolicy:
    """A policy with one authority trusted everywhere: what a CLI flag means."""
    common: dict[str, Any] = {"name": "cli", "purposes": frozenset(purposes)}
    if key_pem is not None:
        try:
            key = PublicKey.from_pem(key_pem)
        except ValueError as err:
            raise InputError(f"invalid public key: {err}") from None
        return TrustPolicy(authorities=(Authority(method="key", key=key, **common),))
    if ca_pems:
        try:
            certs = tuple(c for pem in ca_pems for c in x509.load_pem_x509_certificates(pem))
        except ValueError as err:
            raise InputError(f"invalid certificate PEM: {err}") from None
        anchors, intermediates = split_anchors(certs, allow_intermediate_anchor)
        if not anchors:
            raise InputError(
                "--cert-chain holds no self-signed root certificate: only the root anchors "
                "the chain (pass --allow-intermediate-anchor to trust an intermediate or "
                "leaf certificate directly)",
                code="trust.no_root",
            )
        authority = Authority(
            method="certificate", ca_certs=anchors, intermediates=intermediates, **common
        )
        return TrustPolicy(authorities=(authority,))
    if identity is None and identity_regex is None:
        raise InputError("keyless verification needs --identity (or --identity-regex)")
    if issuer is None:
        raise InputError("keyless verification needs --issuer")
    try:
        pattern = re.compile(identity_regex) if identity_regex else None
    except re.error as err:
        raise InputError(f"invalid identity regex {identity_regex!r}: {err}") from None
    matcher = IdentityMatcher(subject=identity, subject_regex=pattern, issuer=issuer)
    if trust_config is not None:
        try:
            root = SigstoreRoot("trust_config", prebuilt(verifier_from_trust_config(trust_config)))
        except Exception as err:
            raise InputError(f"invalid Sigstore trust config: {err}") from None
    else:
        name = "staging" if staging else "production"
        root = SigstoreRoot(name, functools.partial(builtin_verifier, name))
    authority = Authority(method="keyless", trust_root=root.name, identities=(matcher,), **common)
    return TrustPolicy(authorities=(authority,), roots={root.name: root})
