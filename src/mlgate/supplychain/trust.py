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
    from sigstore.verify import Verifier

TRUST_FILE = "trust.yaml"
SCHEMA = "trust.schema.json"
DEFAULT_MAX_BUNDLE_BYTES = 1024 * 1024
DEFAULT_HTTP_TIMEOUT = 2.0
SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # what model_signing accepts


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
                sources=SourceConfig(store_dir=default_store(Path(policy_dir))),
                origin=str(path) + " (missing)",
            )
        return cls.load(path)

    @classmethod
    def load(cls, path: str | Path) -> TrustPolicy:
        from mlgate.policyset.validation import check
        from mlgate.policyset.yamlfile import load_yaml_file
        from mlgate.supplychain.trustload import TrustCompiler

        path = Path(path)
        try:
            doc, lines = load_yaml_file(path)
        except InputError as err:
            raise PolicyError(err.message, location=err.location, code=err.code) from None
        check(doc, SCHEMA, lines)
        return TrustCompiler(path.parent, lines).policy(doc, str(path))

    @classmethod
    def from_document(cls, doc: dict[str, Any], base_dir: str | Path = ".") -> TrustPolicy:
        """Builds a policy from an already parsed document (tests, ad-hoc CLI trust)."""
        from mlgate.policyset.validation import check
        from mlgate.policyset.yamlfile import LineMap
        from mlgate.supplychain.trustload import TrustCompiler

        lines = LineMap("<trust>", {})
        check(doc, SCHEMA, lines)
        return TrustCompiler(Path(base_dir), lines).policy(doc, "<trust>")

    def authorities_for(self, method: str) -> list[Authority]:
        return [a for a in self.authorities if a.method == method]


def default_store(policy_dir: Path) -> Path:
    return (policy_dir / ".." / "signatures").resolve()
