"""The trust policy (``policies/trust.yaml``): who may sign models and attestations, where.

Modelled on Sigstore policy-controller's ClusterImagePolicy: a list of *authorities*. Each one
names its key material (a public key, CA certificates, or keyless OIDC identities under a
Sigstore trust root), the *purposes* it may sign for (``model``, ``attestation``) and the
*scope* (environments and namespaces, shell-style globs) where it is trusted.

Everything expensive happens here, once, at load time: PEM parsing, regex compilation and
the construction of Sigstore verifiers from the trust roots embedded in ``sigstore`` (never a
TUF refresh: admission must decide offline). The per-request code in ``signature.py`` only
looks things up.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlgate.errors import InputError, PolicyError

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    from mlgate.policyset.yamlfile import LineMap

TRUST_FILE = "trust.yaml"
SCHEMA = "trust.schema.json"
PURPOSES = ("model", "attestation")
METHODS = ("key", "certificate", "keyless")
BUILTIN_ROOTS = ("production", "staging")
DEFAULT_MAX_BUNDLE_BYTES = 1024 * 1024
DEFAULT_HTTP_TIMEOUT = 2.0
SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # what model_signing accepts

# The Sigstore TUF repositories whose trust roots ship inside the sigstore package.
_TUF_URLS = {
    "production": "https://tuf-repo-cdn.sigstore.dev",
    "staging": "https://tuf-repo-cdn.sigstage.dev",
}
_CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"

# Identity regexes may be shown to (or reused by) Rego, whose rego-cpp engine speaks
# ECMAScript regex: reject the Python/RE2-only syntax that would mean something else there.
_NON_PORTABLE_REGEX = re.compile(r"\(\?[aiLmsux-]|\(\?P|\\[AZzpP]")


@dataclass(frozen=True)
class Scope:
    """Where a model is being deployed: the unit of trust decisions."""

    environment: str
    namespace: str

    def __str__(self) -> str:
        return f"environment={self.environment} namespace={self.namespace}"


@dataclass(frozen=True)
class IdentityMatcher:
    """An allowed signer identity: exact value or anchored regex, for subject and issuer."""

    subject: str | None = None
    subject_regex: re.Pattern[str] | None = None
    issuer: str | None = None
    issuer_regex: re.Pattern[str] | None = None

    def matches(self, subjects: Iterable[str], issuer: str | None) -> bool:
        if self.issuer is not None and issuer != self.issuer:
            return False
        if self.issuer_regex is not None and (
            issuer is None or not self.issuer_regex.fullmatch(issuer)
        ):
            return False
        for subject in subjects:
            if self.subject is not None and subject == self.subject:
                return True
            if self.subject_regex is not None and self.subject_regex.fullmatch(subject):
                return True
        return self.subject is None and self.subject_regex is None


@dataclass(frozen=True)
class PublicKey:
    key: ec.EllipticCurvePublicKey
    # sha256 of the PEM SubjectPublicKeyInfo: the "hint" model_signing writes in bundles.
    hint: str

    @property
    def key_id(self) -> str:
        return f"sha256:{self.hint}"

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("only elliptic-curve public keys are supported")
        if key.curve.name not in SUPPORTED_CURVES:
            raise ValueError(f"unsupported curve {key.curve.name}")
        return cls(key=key, hint=key_hint(key))


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    spki = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


@dataclass(frozen=True)
class Authority:
    name: str
    method: str
    purposes: frozenset[str]
    environments: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] = ("*",)
    key: PublicKey | None = None
    ca_certs: tuple[x509.Certificate, ...] = ()  # the trust anchors
    intermediates: tuple[x509.Certificate, ...] = ()  # configured, but not anchors
    trust_root: str | None = None
    identities: tuple[IdentityMatcher, ...] = ()

    @functools.cached_property
    def ca_store(self) -> Any:
        """The CA certificates as a verification store (built once, then shared)."""
        from cryptography.x509.verification import Store

        return Store(list(self.ca_certs))

    def applies_to(self, scope: Scope, purpose: str) -> bool:
        return (
            purpose in self.purposes
            and any(fnmatch.fnmatchcase(scope.environment, p) for p in self.environments)
            and any(fnmatch.fnmatchcase(scope.namespace, p) for p in self.namespaces)
        )

    def allows_identity(self, subjects: Sequence[str], issuer: str | None) -> bool:
        # No identities listed: any signer that verifies under this authority's material.
        # (Keyless authorities always list identities; the loader enforces it.)
        return not self.identities or any(m.matches(subjects, issuer) for m in self.identities)


def self_signed(cert: x509.Certificate) -> bool:
    """A root: issued by itself, and its signature verifies with its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def split_anchors(
    certs: Sequence[x509.Certificate], allow_intermediate_anchor: bool = False
) -> tuple[tuple[x509.Certificate, ...], tuple[x509.Certificate, ...]]:
    """(anchors, intermediates). Only a self-signed root anchors a chain, as in model
    signing's certificate verifier; trusting an intermediate or a leaf directly is an
    explicit choice, because it trusts everything that certificate's holder signs."""
    if allow_intermediate_anchor:
        return tuple(certs), ()
    roots = tuple(c for c in certs if self_signed(c))
    return roots, tuple(c for c in certs if c not in roots)


@dataclass(frozen=True)
class SourceConfig:
    store_dir: Path | None = None
    http_allow: tuple[str, ...] = ()
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
    http_timeout: float = DEFAULT_HTTP_TIMEOUT


@dataclass(frozen=True)
class SigstoreRoot:
    """A Sigstore trust root and the verifier built from it (once, on first use: importing
    sigstore costs about 0.3 s, which a check with no keyless signature should not pay)."""

    name: str
    build: Callable[[], Verifier] = field(repr=False, compare=False)

    @property
    def verifier(self) -> Verifier:
        return self.build()


@dataclass(frozen=True)
class TrustPolicy:
    authorities: tuple[Authority, ...]
    roots: dict[str, SigstoreRoot] = field(default_factory=dict)
    sources: SourceConfig = SourceConfig()
    revision: str = "sha256:" + hashlib.sha256(b"").hexdigest()
    origin: str = "<built-in>"

    @classmethod
    def empty(cls) -> TrustPolicy:
        """Trusts nobody: every signature is reported untrusted (fail closed)."""
        return cls(authorities=(), origin="<empty>")

    @classmethod
    def from_policy_dir(cls, policy_dir: str | Path) -> TrustPolicy:
        """Loads ``<dir>/trust.yaml``. Without one, nobody is trusted (fail closed)."""
        path = Path(policy_dir) / TRUST_FILE
        if not path.exists():
            return cls(
                authorities=(),
                sources=SourceConfig(store_dir=_default_store(Path(policy_dir))),
                origin=str(path) + " (missing)",
            )
        return cls.load(path)

    @classmethod
    def load(cls, path: str | Path) -> TrustPolicy:
        from mlgate.policyset.validation import check
        from mlgate.policyset.yamlfile import load_yaml_file

        path = Path(path)
        try:
            doc, lines = load_yaml_file(path)
        except InputError as err:
            raise PolicyError(err.message, location=err.location) from None
        check(doc, SCHEMA, lines)
        return _Compiler(path.parent, lines).policy(doc, str(path))

    @classmethod
    def from_document(cls, doc: dict[str, Any], base_dir: str | Path = ".") -> TrustPolicy:
        """Builds a policy from an already parsed document (tests, ad-hoc CLI trust)."""
        from mlgate.policyset.validation import check
        from mlgate.policyset.yamlfile import LineMap

        lines = LineMap("<trust>", {})
        check(doc, SCHEMA, lines)
        return _Compiler(Path(base_dir), lines).policy(doc, "<trust>")

    def authorities_for(self, method: str) -> list[Authority]:
        return [a for a in self.authorities if a.method == method]


def _default_store(policy_dir: Path) -> Path:
    return (policy_dir / ".." / "signatures").resolve()


class _Compiler:
    """Turns a schema-valid document into a TrustPolicy; errors name ``file:line``."""

    def __init__(self, base_dir: Path, lines: LineMap) -> None:
        self.base_dir = base_dir
        self.lines = lines
        self.files: dict[str, bytes] = {}  # every referenced file, for the revision

    def fail(self, pointer: str, message: str) -> PolicyError:
        return PolicyError(message, location=self.lines.where(pointer))

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
            raise self.fail(pointer, f"cannot read {ref}: {err.strerror or err}") from None
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
            return SigstoreRoot(root_id, functools.partial(_builtin_verifier, root_id))
        ref = item["keyless"]["trust_config"]
        config = self.read(f"{pointer}/keyless/trust_config", ref)
        try:
            return SigstoreRoot(ref, _built(verifier_from_trust_config(config)))
        except Exception as err:  # sigstore raises several types for a bad trust config
            raise self.fail(
                f"{pointer}/keyless/trust_config", f"invalid Sigstore trust config {ref}: {err}"
            ) from None

    def sources(self, spec: dict[str, Any]) -> SourceConfig:
        store = spec.get("store")
        return SourceConfig(
            store_dir=(self.base_dir / store).resolve() if store else _default_store(self.base_dir),
            http_allow=tuple(spec.get("http_allow", [])),
            max_bundle_bytes=int(spec.get("max_bundle_bytes", DEFAULT_MAX_BUNDLE_BYTES)),
            http_timeout=float(spec.get("http_timeout_seconds", DEFAULT_HTTP_TIMEOUT)),
        )


# --- Sigstore trust roots, offline -------------------------------------------------------


@functools.cache
def builtin_trust_config(name: str) -> ClientTrustConfig:
    """The production or staging ClientTrustConfig embedded in the sigstore package.

    ``ClientTrustConfig.production()`` refreshes TUF metadata over the network, and its
    ``offline=True`` mode reads (and first writes) a per-user cache directory whose contents
    may be stale or unverified. Admission needs neither: it reads the assets sigstore ships.
    """
    from importlib import resources
    from urllib.parse import quote

    from sigstore.models import ClientTrustConfig
    from sigstore_models.trustroot import v1 as trustroot_v1

    assets = resources.files("sigstore._store").joinpath(quote(_TUF_URLS[name], safe=""))
    inner = trustroot_v1.ClientTrustConfig(
        media_type=_CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        trusted_root=trustroot_v1.TrustedRoot.from_json(
            assets.joinpath("trusted_root.json").read_bytes()
        ),
        signing_config=trustroot_v1.SigningConfig.from_json(
            assets.joinpath("signing_config.v0.2.json").read_bytes()
        ),
    )
    return ClientTrustConfig(inner)


@functools.cache
def _builtin_verifier(name: str) -> Verifier:
    from sigstore.verify import Verifier

    return Verifier(trusted_root=builtin_trust_config(name).trusted_root)


def _built(verifier: Verifier) -> Callable[[], Verifier]:
    """A private trust config is parsed at load time, so a broken one is a policy error
    then, not at the first signature."""
    return lambda: verifier


def verifier_from_trust_config(config_json: bytes) -> Verifier:
    """A verifier for a private (air-gapped) Sigstore deployment's ClientTrustConfig."""
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    return Verifier(trusted_root=ClientTrustConfig.from_json(config_json.decode()).trusted_root)


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
                "leaf certificate directly)"
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
            root = SigstoreRoot("trust_config", _built(verifier_from_trust_config(trust_config)))
        except Exception as err:
            raise InputError(f"invalid Sigstore trust config: {err}") from None
    else:
        name = "staging" if staging else "production"
        root = SigstoreRoot(name, functools.partial(_builtin_verifier, name))
    authority = Authority(method="keyless", trust_root=root.name, identities=(matcher,), **common)
    return TrustPolicy(authorities=(authority,), roots={root.name: root})
