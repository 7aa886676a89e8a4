"""What an adapter extracts from a source: the object, who asks, and its model references."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlgate.errors import InputError

ANNOTATION_PREFIX = "mlgate.io/"
DIGEST = "mlgate.io/model-digest"
SIGNATURE = "mlgate.io/signature"
SIGNATURE_REF = "mlgate.io/signature-ref"
ATTESTATION = "mlgate.io/attestation"
ATTESTATION_REF = "mlgate.io/attestation-ref"
BREAK_GLASS = "mlgate.io/break-glass"
MODELS = "mlgate.io/models"  # per-reference evidence for objects with several models
ENVIRONMENT_LABEL = "mlgate.io/environment"
MODEL_KEYS = (DIGEST, SIGNATURE, SIGNATURE_REF, ATTESTATION, ATTESTATION_REF)

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_HF_REVISION = re.compile(r"^hf://(?P<repo>[^:@]+)[:@](?P<rev>[0-9a-f]{40})$")
_HF_REF = re.compile(r"^(?P<repo>[^:@/\s]+/[^:@/\s]+)(?:[:@](?P<rev>[^:@/\s]+))?$")
_HF_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")


@dataclass(frozen=True)
class RequestInfo:
    """Who asks and where: the parts of an AdmissionReview (or a CI run) that are not the object."""

    operation: str = "CREATE"
    username: str = ""
    groups: tuple[str, ...] = ()
    namespace_labels: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    source: str = "admission"
    environment: str | None = None  # explicit override (CI manifests)


@dataclass(frozen=True)
class ModelRef:
    component: str  # predictor, transformer, container/<name>, ...
    uri: str
    annotations: dict[str, str]  # the mlgate.io/* annotations that apply to this reference
    name: str = ""
    format: str = ""
    runtime: str = ""
    version: str = ""
    # "model": a model to evaluate; "unresolved": something loads a model mlgate cannot
    # name (reason says why); "runtime-image": a serving runtime's image (must be pinned).
    role: str = "model"
    reason: str = ""
    tokenizer: str = ""
    # Where this reference's evidence came from (subjects/binding.py): "reference" (its own
    # entry), "object" (object-wide annotations, only for a single-model object) or "none".
    evidence: str = "reference"
    # Where in its pod the container that loads it reads it (subjects/mounts.py): None when
    # the reference is not read by a container mlgate can see (a storageUri, a manifest).
    site: dict[str, Any] | None = None


@dataclass
class Subject:
    kind: str
    api_version: str
    name: str
    namespace: str
    info: RequestInfo
    labels: dict[str, str]
    annotations: dict[str, str]
    models: list[ModelRef]
    # Pod-start verification steps found in the pod template (subjects/verifiers.py).
    verifiers: list[dict[str, Any]] = field(default_factory=list)
    # ownerReferences with controller: true (the object was created on a parent's behalf).
    controller: dict[str, str] | None = None
    # CI manifests may carry the card and evidence directly ("declared", not attested).
    declared_card: dict[str, Any] | None = None
    declared_evidence: dict[str, Any] | None = None
    declared_approvals: list[dict[str, Any]] | None = None
    declared_gates: dict[str, Any] | None = None
    where: str = ""

    @property
    def environment(self) -> str:
        # Only the namespace (or an explicit CI setting) decides: a label on the object
        # itself is chosen by the deployer, who must not be able to pick "development".
        if self.info.environment:
            return self.info.environment
        return self.info.namespace_labels.get(ENVIRONMENT_LABEL) or "production"

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "environment": self.environment,
        }


def model_annotations(annotations: dict[str, str], component: str) -> dict[str, str]:
    """The object's mlgate annotations for one model reference.

    ``mlgate.io/model-digest.<component>`` overrides ``mlgate.io/model-digest`` so that one
    object can carry a digest (and signature) for each model it references.
    """
    out = {k: v for k, v in annotations.items() if k in MODEL_KEYS}
    suffix = "." + component.replace("/", ".")
    for key in MODEL_KEYS:
        specific = annotations.get(key + suffix)
        if specific is not None:
            out[key] = specific
    if BREAK_GLASS in annotations:
        out[BREAK_GLASS] = annotations[BREAK_GLASS]
    return out


def uri_scheme(uri: str) -> str:
    if "://" in uri:
        return uri.split("://", 1)[0].lower()
    return "file" if uri.startswith("/") else "image" if "/" in uri or ":" in uri else "unknown"


def uri_digest(uri: str) -> str | None:
    """The digest a content-addressed reference pins (``@sha256:``, an hf:// revision)."""
    at = uri.rfind("@sha256:")
    if at >= 0 and _SHA256.fullmatch(uri[at + 1 :]):
        return uri[at + 1 :]
    hf = _HF_REVISION.match(uri)
    if hf:
        return "git-sha1:" + hf.group("rev")
    return None


def normalize_uri(uri: str) -> str:
    """The form in which a deployed URI is compared with the URIs an attestation names.

    Only what a specification makes case-insensitive is folded: the scheme (RFC 3986 3.1)
    and a DNS host name (RFC 3986 3.2.2; ``https://``, ``oci://`` registries, ``hdfs://``
    name nodes). A bucket or claim is not a host name: S3 keeps the case of legacy
    us-east-1 bucket names, GCS/Azure object names and Hugging Face repository ids are
    compared exactly, so ``s3://Bucket/x`` and ``s3://bucket/x`` stay two models (a mismatch
    fails closed). A trailing slash means nothing, and a Hugging Face model is the same
    whether written ``hf://org/model``, ``org/model`` (vLLM, TGI) or as a huggingface.co
    URL; its revision is kept (``hf://org/model@rev``).
    """
    text = uri.strip()
    if "://" not in text:
        hf = _HF_REF.match(text)
        if hf and "." not in hf.group("repo").split("/")[0]:
            rev = hf.group("rev")
            return f"hf://{hf.group('repo')}" + (f"@{rev}" if rev else "")
        return text.rstrip("/") or text
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    host, sep, path = rest.partition("/")
    if scheme in _DNS_HOST_SCHEMES:
        host = _fold_host(host)
    if scheme in ("https", "http") and host in _HF_HOSTS:
        scheme, (host, sep, path) = "hf", path.partition("/")
        host_path = f"{host}{sep}{path}".rstrip("/")
        repo, _, tail = host_path.partition("/tree/")  # huggingface.co/org/model/tree/<rev>
        return f"hf://{repo}" + (f"@{tail}" if tail else "")
    if scheme == "hf":
        hf = _HF_REF.match(f"{host}{sep}{path}".rstrip("/"))
        if hf:
            rev = hf.group("rev")
            return f"hf://{hf.group('repo')}" + (f"@{rev}" if rev else "")
    return f"{scheme}://{host}{sep}{path}".rstrip("/")


# Schemes whose authority is a DNS host name (case-insensitive); for the others (s3, gs,
# pvc, azure, hf, ...) the first segment is a bucket, claim or organisation: kept as written.
_DNS_HOST_SCHEMES = frozenset({"http", "https", "oci", "hdfs", "webhdfs", "ftp", "sftp"})


def _fold_host(authority: str) -> str:
    """``user@Host:port`` with only the host lower-cased (user info is case-sensitive)."""
    user, at, hostport = authority.rpartition("@")
    return f"{user}{at}{hostport.lower()}"


# Where a digest in the reference is the address the bytes are fetched by. Elsewhere
# (s3://, https://, pvc://, ...) "@sha256:..." is only part of a key or path, whose bytes
# can be replaced after approval.
_CONTENT_ADDRESSING = {"oci": "sha256:", "image": "sha256:", "hf": "git-sha1:"}


def content_addressed(uri: str) -> bool:
    """A reference whose bytes cannot change under it: an OCI/image ``@sha256:`` digest or
    an hf 40-hex commit."""
    normalized = normalize_uri(uri)
    digest = uri_digest(normalized)
    prefix = _CONTENT_ADDRESSING.get(uri_scheme(normalized))
    return digest is not None and prefix is not None and digest.startswith(prefix)


def expect_mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"expected a mapping, got {type(value).__name__}", location=where)
    return value


def expect_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(
            f"expected a string, got {type(value).__name__}",
            location=where,
            code="input.not_a_string",
        )
    return value


def string_map(value: Any, where: str) -> dict[str, str]:
    mapping = expect_mapping(value, where)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise InputError(
                f"value of {key!r} must be a string, got {type(item).__name__}",
                location=f"{where}/{key}",
            )
    return mapping


def metadata(obj: dict[str, Any], where: str) -> tuple[str, str, dict[str, str], dict[str, str]]:
    meta = expect_mapping(obj.get("metadata"), f"{where}/metadata")
    name = meta.get("name") or meta.get("generateName") or ""
    return (
        expect_str(name, f"{where}/metadata/name"),
        expect_str(meta.get("namespace", "") or "", f"{where}/metadata/namespace"),
        string_map(meta.get("labels"), f"{where}/metadata/labels"),
        string_map(meta.get("annotations"), f"{where}/metadata/annotations"),
    )
