"""The one entry point the engine calls per model reference: annotations -> supply-chain facts.

``facts()`` never raises: every problem is a fact with an ``error``, and the policies decide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlgate.supplychain.attestation import verify_attestation
from mlgate.supplychain.cache import VerificationCache
from mlgate.supplychain.facts import new_facts
from mlgate.supplychain.signature import verify_bundle
from mlgate.supplychain.sources import BundleSources, Fetched
from mlgate.supplychain.trust import Scope, TrustPolicy

__all__ = ["Scope", "SupplyChainVerifier"]


class SupplyChainVerifier:
    def __init__(
        self,
        trust: TrustPolicy,
        store_dir: Path | None = None,
        http_allow: Sequence[str] = (),
        cache: VerificationCache | None = None,
        *,
        sources: BundleSources | None = None,
    ) -> None:
        self.trust = trust
        self.cache = cache if cache is not None else VerificationCache()
        self.sources = sources or BundleSources(
            store_dir if store_dir is not None else trust.sources.store_dir,
            tuple(http_allow) or trust.sources.http_allow,
            max_bytes=trust.sources.max_bundle_bytes,
            timeout=trust.sources.http_timeout,
        )

    @classmethod
    def from_policy_dir(
        cls, path: str | Path, *, cache: VerificationCache | None = None
    ) -> SupplyChainVerifier:
        """Trust from ``<path>/trust.yaml`` (sources configured there too)."""
        return cls(TrustPolicy.from_policy_dir(path), cache=cache)

    def close(self) -> None:
        """Releases the HTTP client (if a URL was ever fetched)."""
        self.sources.close()

    def facts(
        self, annotations: Mapping[str, str], declared_digest: str | None, scope: Scope
    ) -> dict[str, dict[str, Any]]:
        """``{"signature": facts, "attestation": facts + predicate}`` for one model."""
        return {
            "signature": self._one(annotations, declared_digest, scope, "signature"),
            "attestation": self._one(annotations, declared_digest, scope, "attestation"),
        }

    def _one(
        self, annotations: Mapping[str, str], declared: str | None, scope: Scope, kind: str
    ) -> dict[str, Any]:
        try:
            fetched = self.sources.fetch(annotations, kind)
        except Exception as err:  # a bug in a source must still fail closed, not 500
            fetched = Fetched(True, "none", error=f"cannot load bundle: {type(err).__name__}")
        if fetched.data is None:
            facts = new_facts(
                present=fetched.present,
                source=fetched.source,
                declared_digest=declared,
                error=fetched.error,
            )
            return {**facts, "predicate": {}} if kind == "attestation" else facts
        data, source = fetched.data, fetched.source
        purpose = "model" if kind == "signature" else "attestation"
        key = (
            hashlib.sha256(data).hexdigest(),
            declared,
            self.trust.revision,
            scope,
            purpose,
            source,
        )
        verify = verify_bundle if kind == "signature" else verify_attestation
        limit = self.trust.sources.max_bundle_bytes
        return self.cache.get_or_compute(
            key,
            lambda: verify(data, declared, self.trust, scope, source=source, max_bytes=limit),
        )
