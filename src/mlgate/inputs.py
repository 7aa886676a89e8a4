"""Builds canonical input documents (schemas/input.schema.json) from a Subject.

One document per model reference. The card and evaluation evidence come from the governance
attestation when it is trusted (``card_source: attestation``); a CI manifest may declare
them instead (``card_source: declared``), which production policy does not accept as proof.
Dates become integers in ns here, because policies must not parse time (rego-cpp).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypedDict, cast

from mlgate.canonical import Approval, Binding, CanonicalInput, Context, Evidence, Request
from mlgate.errors import InputError
from mlgate.shapes import mapping, sequence
from mlgate.subjects.base import (
    BREAK_GLASS,
    DIGEST,
    ModelRef,
    Subject,
    content_addressed,
    normalize_uri,
    uri_digest,
    uri_scheme,
)
from mlgate.subjects.verifiers import serves
from mlgate.supplychain.facts import AttestationFacts, SignatureFacts, new_facts
from mlgate.supplychain.trust import Scope
from mlgate.timeutil import now_ns as current_ns
from mlgate.timeutil import to_ns

EVALUATION_SECTIONS = ("metrics", "drift", "fairness", "stability")


class SupplyChain(Protocol):
    def facts(
        self, annotations: dict[str, str], declared_digest: str | None, scope: Any
    ) -> dict[str, dict[str, Any]]: ...


def absent_facts() -> SignatureFacts:
    """Facts for a bundle that is not there: nothing verified, nothing trusted."""
    return new_facts()


class BundleFacts(TypedDict):
    signature: SignatureFacts
    attestation: SignatureFacts | AttestationFacts


def _completed(raw: Any) -> SignatureFacts:
    """A verifier's facts over ``new_facts()``: every key the schema requires is there, a
    missing one proved nothing. (Its values are the verifier's: typed by its own module.)"""
    return cast(SignatureFacts, {**new_facts(), **mapping(raw)})


def _ns_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    with contextlib.suppress(InputError):
        return to_ns(value)
    return None


def _approvals(raw: Any) -> list[Approval]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        approval: Approval = {
            "role": str(item.get("role", "")),
            "approver": str(item.get("approver", "")),
        }
        stamp = _ns_or_none(item.get("approved_at"))
        if stamp is None and isinstance(item.get("approved_at_ns"), int):
            stamp = item["approved_at_ns"]
        if stamp is not None:
            approval["approved_at_ns"] = stamp
        out.append(approval)
    return out


def _timeline(card: dict[str, Any], attestation: Mapping[str, Any]) -> dict[str, int]:
    governance = mapping(card.get("governance"))
    stamps = {
        "trained_at_ns": _ns_or_none(governance.get("training_completed_at")),
        "last_review_ns": _ns_or_none(governance.get("last_review_at")),
        "attested_at_ns": _ns_or_none(mapping(attestation.get("predicate")).get("created_at")),
    }
    return {k: v for k, v in stamps.items() if v is not None}


def attested_uris(predicate: dict[str, Any]) -> list[str]:
    """The URIs a trusted governance attestation was issued for (``model.uris``/``model.uri``)."""
    model = mapping(predicate.get("model"))
    raw = sequence(model.get("uris"))
    if isinstance(model.get("uri"), str):
        raw = [*raw, model["uri"]]
    return sorted({normalize_uri(u) for u in raw if isinstance(u, str) and u.strip()})


def binding_facts(subject: Subject, ref: ModelRef, predicate: dict[str, Any]) -> Binding:
    """How the evidence is tied to this reference: scope, attested URIs, pod-start checks.

    ``loads`` is where the server reads the model (a path in its pod, or ``path: null`` when
    it fetches the URI itself); each pod-start step says whether it ``serves`` that place.
    A local copy is never content-addressed, whatever URI it is said to come from: its
    bytes are whatever filled the directory (the pod-start check decides).
    """
    uri = normalize_uri(ref.uri)
    attested = attested_uris(predicate)
    site = ref.site
    local_copy = bool(site and site.get("path"))
    pod = site.get("pod") if site else None
    steps = [
        {**step, "serves": serves(step, site)}
        for step in subject.verifiers
        if pod is None or step.get("pod", "") == pod
    ]
    return {
        "evidence": ref.evidence,
        "uri": uri,
        "content_addressed": content_addressed(ref.uri) and not local_copy,
        "uri_content_addressed": content_addressed(ref.uri),
        "attested_uris": attested,
        "uri_attested": uri in attested,
        "loads": dict(site) if site else None,
        "pod_start_steps": steps,
    }


def promotion_input(
    *,
    model_name: str,
    environment: str,
    risk_tier: str | None,
    evidence: dict[str, Any],
    now_ns: int | None = None,
) -> CanonicalInput:
    """The canonical input of ``mlgate gate``: a CI manifest with no signature, attestation or
    approvals whose evaluation evidence is the gate's; ``risk_tier`` None leaves the tier
    undeclared (the policy then applies the strictest parameters)."""
    governance = {} if risk_tier is None else {"risk_tier": risk_tier}
    return {
        "source": "manifest",
        "request": {
            "operation": "CREATE",
            "kind": "ModelManifest",
            "name": model_name,
            "namespace": "",
            "user": {"username": "", "groups": []},
        },
        "context": {
            "environment": environment,
            "now_ns": current_ns() if now_ns is None else now_ns,
        },
        "model": {"name": model_name, "uri": ""},
        "card": {"governance": governance},
        "card_source": "declared",
        "signature": absent_facts(),
        "attestation": absent_facts(),
        "evidence": cast(Evidence, {k: evidence[k] for k in EVALUATION_SECTIONS if k in evidence}),
    }


class InputBuilder:
    def __init__(self, supply_chain: SupplyChain | None) -> None:
        self._supply_chain = supply_chain

    def _supply_chain_facts(self, ref: ModelRef, scope: Scope) -> BundleFacts:
        has_bundles = any(k != DIGEST and k != BREAK_GLASS for k in ref.annotations)
        if self._supply_chain is None:
            sig, att = absent_facts(), absent_facts()
            if has_bundles:  # bundles present but nothing to check them with: fail closed
                sig |= {"present": True, "error": "no signature verifier is configured"}
            return {"signature": sig, "attestation": att}
        facts = self._supply_chain.facts(ref.annotations, ref.annotations.get(DIGEST), scope)
        return {
            "signature": _completed(facts.get("signature")),
            "attestation": _completed(facts.get("attestation")),
        }

    def build(self, subject: Subject, *, now_ns: int | None = None) -> list[CanonicalInput]:
        now = current_ns() if now_ns is None else now_ns
        scope = Scope(environment=subject.environment, namespace=subject.namespace)
        return [self._build_one(subject, ref, scope, now) for ref in subject.models]

    def _build_one(self, subject: Subject, ref: ModelRef, scope: Scope, now: int) -> CanonicalInput:
        facts = self._supply_chain_facts(ref, scope)
        attestation = facts["attestation"]
        predicate = mapping(attestation.get("predicate")) if attestation.get("trusted") else {}
        if predicate:
            card, card_source = mapping(predicate.get("card")), "attestation"
            evaluation = mapping(predicate.get("evaluation"))
            approvals, gates = predicate.get("approvals"), mapping(predicate.get("gates"))
        elif subject.declared_card is not None:
            card, card_source = subject.declared_card, "declared"
            evaluation = mapping(subject.declared_evidence)
            approvals, gates = subject.declared_approvals, mapping(subject.declared_gates)
        else:
            card, card_source, evaluation, approvals, gates = {}, "none", {}, [], {}
        evidence = cast(
            Evidence,
            {k: evaluation[k] for k in EVALUATION_SECTIONS if isinstance(evaluation.get(k), dict)},
        )
        evidence["approvals"] = _approvals(approvals)
        evidence["deployment"] = {
            k: gates[k] for k in ("shadow", "canary") if isinstance(gates.get(k), dict)
        }
        evidence["timeline"] = _timeline(card, attestation)
        details = mapping(card.get("model_details"))
        context: Context = {"environment": scope.environment, "now_ns": now}
        if BREAK_GLASS in ref.annotations:
            context["break_glass"] = {"requested": True, "reason": ref.annotations[BREAK_GLASS]}
        info = subject.info
        source: Literal["admission", "manifest"] = (
            "manifest" if info.source == "manifest" else "admission"
        )
        request: Request = {
            "operation": info.operation,
            "kind": subject.kind,
            "api_version": subject.api_version,
            "name": subject.name,
            "namespace": subject.namespace,
            "component": ref.component,
            "labels": subject.labels,
            "annotations": {k: v for k, v in subject.annotations.items() if len(v) <= 4096},
            "namespace_labels": dict(info.namespace_labels),
            "user": {"username": info.username, "groups": list(info.groups)},
            "dry_run": info.dry_run,
        }
        if subject.controller is not None:
            request["controller"] = dict(subject.controller)
        return {
            "source": source,
            "request": request,
            "context": context,
            "model": {
                "name": ref.name or str(details.get("name") or subject.name),
                "version": ref.version or str(mapping(details.get("version")).get("name", "")),
                "uri": ref.uri,
                "uri_scheme": uri_scheme(ref.uri),
                "uri_digest": uri_digest(normalize_uri(ref.uri)),
                "declared_digest": ref.annotations.get(DIGEST),
                "format": ref.format,
                "runtime": ref.runtime,
                "role": ref.role,
                "unresolved_reason": ref.reason,
                "tokenizer": ref.tokenizer,
            },
            "card": card,
            "card_source": card_source,
            "signature": facts["signature"],
            "attestation": attestation,
            "evidence": evidence,
            "binding": binding_facts(subject, ref, predicate),
        }
