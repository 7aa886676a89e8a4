"""Signature facts: what a signature proved, as the policy reads it (``input.signature``).

Every verification starts from :func:`new_facts` (proved nothing) and only sets what it has
checked, so a fact that is missing or false fails closed. Also the format constants the
signing and verification modules share.
"""

from __future__ import annotations

import re
from typing import Any

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
MODEL_PREDICATE = "https://model_signing/signature/v1.0"
LEGACY_MODEL_PREDICATE = "https://model_signing/Digests/v0.1"
GOVERNANCE_PREDICATE = "https://mlgate.io/governance/v1"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_TYPES = frozenset(
    {
        BUNDLE_MEDIA_TYPE,
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    }
)

_DIGEST = re.compile(r"^sha256:([0-9a-fA-F]{64})$")

FACT_KEYS = (
    "present",
    "source",
    "verified",
    "trusted",
    "method",
    "identity",
    "issuer",
    "subject_digest",
    "declared_digest",
    "digest_matches",
    "predicate_type",
    "legacy",
    "timestamp_source",
    "bundle_digest",
    "authority",
    "error",
    "unknown_signer",
)


def new_facts(
    *,
    present: bool = False,
    source: str = "none",
    declared_digest: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The facts of a signature that proved nothing (yet): the fail-closed starting point."""
    return {
        "present": present,
        "source": source,
        "verified": False,
        "trusted": False,
        "method": None,
        "identity": None,
        "issuer": None,
        "subject_digest": None,
        "declared_digest": declared_digest,
        "digest_matches": False,
        "predicate_type": None,
        "legacy": False,
        "timestamp_source": None,
        "bundle_digest": None,
        "authority": None,
        "error": error,
        "unknown_signer": False,  # signed by a key trust.yaml does not list
    }


def normalize_digest(value: str | None) -> str | None:
    """``sha256:<hex>`` in lower case, or None when ``value`` is not such a digest."""
    if value is None:
        return None
    match = _DIGEST.match(value.strip())
    return f"sha256:{match.group(1).lower()}" if match else None
