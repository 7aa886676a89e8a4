"""The model inventory: every model seen, with the facts an auditor asks about first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlgate.audit.store import AuditStore
from mlgate.timeutil import rfc3339

_NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass
class ModelEntry:
    model: str
    kind: str
    namespace: str
    name: str
    tier: str
    environment: str
    signer: str  # the verified signing identity, or "" when not verified
    attested_at_ns: int | None
    last_decision_ns: int
    allowed: bool
    open_violations: list[str]
    warnings: list[str]
    exemptions: list[dict[str, str]]  # id, control, expires
    source: str  # "audit #N" or a file reference
    evidence: dict[str, Any] = field(default_factory=dict)  # drift/fairness/metrics

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.kind, self.name, self.model)

    def attestation_age_days(self, now_ns: int) -> float | None:
        if self.attested_at_ns is None:
            return None
        return (now_ns - self.attested_at_ns) / _NS_PER_DAY

    @property
    def last_decision(self) -> str:
        return rfc3339(self.last_decision_ns)


def _signer(doc: Mapping[str, Any]) -> str:
    signature = doc.get("signature") or {}
    if signature.get("verified") and signature.get("trusted"):
        return str(signature.get("identity") or signature.get("method") or "verified")
    return ""


def entries_from(
    decision: dict[str, Any], inputs: Sequence[Mapping[str, Any]], when_ns: int, source: str
) -> list[ModelEntry]:
    """One entry per model reference of a decision (one when the inputs are not known)."""
    subject = decision.get("subject") or {}
    common: dict[str, Any] = {
        "kind": str(subject.get("kind", "")),
        "namespace": str(subject.get("namespace", "")),
        "name": str(subject.get("name", "")),
        "tier": str(decision.get("risk_tier", "unknown")),
        "environment": str(subject.get("environment", "")),
        "last_decision_ns": when_ns,
        "allowed": bool(decision.get("allowed")),
        "open_violations": sorted({v["control"] for v in decision.get("violations", [])}),
        "warnings": sorted({v["control"] for v in decision.get("warnings", [])}),
        "exemptions": [
            {
                "id": e.get("id", ""),
                "control": e.get("control", ""),
                "expires": e.get("expires", ""),
            }
            for e in decision.get("exemptions", [])
        ],
        "source": source,
    }
    if not inputs:
        model = str(subject.get("model") or subject.get("name", ""))
        return [ModelEntry(model=model, signer="", attested_at_ns=None, **common)]
    out = []
    for doc in inputs:
        evidence = doc.get("evidence") or {}
        out.append(
            ModelEntry(
                model=str((doc.get("model") or {}).get("name", "")),
                signer=_signer(doc),
                attested_at_ns=(evidence.get("timeline") or {}).get("attested_at_ns"),
                evidence={
                    k: evidence[k] for k in ("drift", "fairness", "metrics") if k in evidence
                },
                **{
                    **common,
                    "environment": common["environment"]
                    or str((doc.get("context") or {}).get("environment", "")),
                },
            )
        )
    return out


def from_audit(
    store: AuditStore, *, since_ns: int | None = None, until_ns: int | None = None
) -> tuple[list[ModelEntry], list[dict[str, Any]]]:
    """The latest entry per model in the window, and the window's decision records."""
    latest: dict[tuple[str, str, str, str], ModelEntry] = {}
    bodies: list[dict[str, Any]] = []
    for record in store.records(since_ns=since_ns, types=("decision",)):
        if until_ns is not None and record.ts_ns > until_ns:
            break
        bodies.append(record.body | {"seq": record.seq})
        stored = store.stored_inputs(record.seq)
        for entry in entries_from(
            record.body.get("decision") or {},
            stored.inputs if stored else [],
            record.ts_ns,
            f"audit #{record.seq}",
        ):
            latest[entry.key] = entry
    return sorted(latest.values(), key=lambda e: e.key), bodies
