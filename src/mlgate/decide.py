"""From Rego findings to an explained Decision.

The Rego says *what is wrong*; this layer says *how much it matters here*: it applies the
catalogue (applies_to, severity, regulations, remediation), the per-environment and
per-namespace enforcement mode and the exemptions. It runs in Python, identically for both
backends, so that the embedded engine and OPA cannot disagree on anything but Rego semantics.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from mlgate.decision import AppliedExemption, Decision, Violation
from mlgate.errors import EvaluationError
from mlgate.policyset import PolicySet
from mlgate.policyset.exemptions import Exemption
from mlgate.shapes import mapping
from mlgate.timeutil import rfc3339

EVAL_ERROR_CONTROL = "MLGATE-EVAL-ERROR"
UNKNOWN_CONTROL = "MLGATE-UNKNOWN-CONTROL"
INPUT_ERROR_CONTROL = "MLGATE-INPUT-INVALID"
# The backend could not be reached at all (OPA down, circuit open): an infrastructure fault,
# the only evaluation failure that --fail-open may turn into an admission.
BACKEND_UNAVAILABLE_CONTROL = "MLGATE-BACKEND-UNAVAILABLE"
# Denials the webhook makes itself: the decision log could not commit; the object is past a
# work limit; the evaluation queue is full.
AUDIT_ERROR_CONTROL = "MLGATE-AUDIT-ERROR"
LIMIT_CONTROL = "MLGATE-LIMIT-EXCEEDED"
OVERLOAD_CONTROL = "MLGATE-OVERLOADED"
# mlgate's own denials that carry no policy result: the request was refused before any
# policy ran, or evaluating or recording it failed. The other MLGATE- controls are policy
# results: summaries of findings (NEEDS-ATTESTATION, PROHIBITED) or a finding naming a
# control the catalogue lacks (UNKNOWN-CONTROL).
REFUSED_CONTROLS = frozenset({INPUT_ERROR_CONTROL, LIMIT_CONTROL, OVERLOAD_CONTROL})
FAILED_CONTROLS = frozenset({EVAL_ERROR_CONTROL, BACKEND_UNAVAILABLE_CONTROL, AUDIT_ERROR_CONTROL})


def could_not_decide(control: str) -> bool:
    """A fail-closed denial of mlgate's own: refused, failed, or a policy set that names a
    control its catalogue lacks (a broken set; the summaries above are not)."""
    return control in REFUSED_CONTROLS or control in FAILED_CONTROLS or control == UNKNOWN_CONTROL


def subject_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    request = doc.get("request", {})
    model = doc.get("model", {})
    return {
        "kind": request.get("kind", ""),
        "name": request.get("name", ""),
        "namespace": request.get("namespace", ""),
        "component": request.get("component", ""),
        "model": model.get("name") or model.get("uri", ""),
        "uri": model.get("uri", ""),
        "digest": model.get("declared_digest") or model.get("uri_digest"),
        "environment": doc.get("context", {}).get("environment", ""),
    }


def system_violation(
    control: str,
    message: str,
    remediation: str,
    title: str = "Decision could not be made; failing closed",
) -> Violation:
    """A denial raised by mlgate itself (not by a catalogue control) when it cannot decide."""
    return Violation(
        control=control,
        severity="critical",
        enforcement="deny",
        message=message,
        regulations=["mlgate fail-closed rule (DESIGN.md section 6)"],
        remediation=remediation,
        path="",
        title=title,
    )


FAIL_CLOSED_REMEDIATION = (
    "Fix the policy set or the input named in the message; mlgate denies rather than "
    "admitting a model it could not evaluate."
)


def failed_closed(
    subject: dict[str, Any],
    control: str,
    message: str,
    *,
    revision: str,
    backend: str,
    dry_run: bool = False,
    remediation: str = FAIL_CLOSED_REMEDIATION,
    title: str = "Decision could not be made; failing closed",
) -> Decision:
    """The one builder of a denial that names why no real decision could be made.

    Every front door uses it (the engine for input, evaluation and backend errors; the webhook
    for oversized, malformed or overloaded requests; ``mlgate scan`` for malformed objects).
    """
    return Decision(
        allowed=False,
        decision_id=uuid.uuid4().hex,
        subject=subject,
        risk_tier="unknown",
        violations=[system_violation(control, message, remediation, title)],
        policy_revision=revision,
        backend=backend,
        evaluated_at=rfc3339(),
        dry_run=dry_run,
    )


SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}

# Root causes, in the order a reader must see them: nothing below them can be judged (or
# matters) until they are fixed. Everything else follows by severity.
ROOT_CAUSES = (
    "TIER-PROHIBITED",
    "SC-MODEL-RESOLVED",
    "SC-MODEL-DECLARED",
    "SC-SIGNED",
    "SC-TRUSTED-SIGNER",
    "SC-DIGEST-MATCH",
    "SC-LEGACY-SIGNATURE",
    "SC-DIGEST-PINNED",
    "SC-RUNTIME-PINNED",
    "SC-ATTESTED",
    "TIER-ATTESTED",
)
NEEDS_ATTESTATION_CONTROL = "MLGATE-NEEDS-ATTESTATION"
PROHIBITED_MOOT_CONTROL = "MLGATE-PROHIBITED"
# Findings about the card or the evidence it carries: without a trusted card they restate
# "there is no trusted card" once per field.
CARD_PATHS = ("/card/", "/evidence/")


def root_cause_order(items: list[Violation]) -> list[Violation]:
    def rank(v: Violation) -> tuple[int, int]:
        cause = ROOT_CAUSES.index(v.control) if v.control in ROOT_CAUSES else len(ROOT_CAUSES)
        return cause, SEVERITY_RANK.get(v.severity, len(SEVERITY_RANK))

    return sorted(items, key=rank)


def _summary(
    items: list[Violation],
    control: str,
    message: str,
    remediation: str,
    title: str,
    regulations: list[str],
) -> Violation:
    """One line standing for several findings (their controls are named in the message)."""
    return Violation(
        control=control,
        severity=min((v.severity for v in items), key=lambda s: SEVERITY_RANK.get(s, 9)),
        enforcement=items[0].enforcement,
        message=message,
        regulations=regulations,
        remediation=remediation,
        path="",
        title=title,
    )


def _card_trusted(doc: dict[str, Any]) -> bool:
    attestation = mapping(doc.get("attestation"))
    return doc.get("card_source") == "attestation" and attestation.get("trusted") is True


def collapse(doc: dict[str, Any], items: list[Violation]) -> list[Violation]:
    """One enforcement bucket, root cause first, with the noise folded into one line:

    - a prohibited model is told it is prohibited, not what else it lacks;
    - without any card (no trusted attestation, nothing declared) the controls that read the
      card collapse into "N controls need a trusted governance attestation".
    """
    items = root_cause_order(items)
    if any(v.control == "TIER-PROHIBITED" for v in items):
        kept = [v for v in items if v.control == "TIER-PROHIBITED" or v.control.startswith("SC-")]
        kept_ids = {id(v) for v in kept}  # by identity: equality would compare every field
        rest = [v for v in items if id(v) not in kept_ids]
        moot = sorted({v.control for v in rest})
        if moot:
            kept.append(
                _summary(
                    rest,
                    PROHIBITED_MOOT_CONTROL,
                    f"{len(moot)} other controls are moot for a prohibited practice: "
                    + ", ".join(moot),
                    "No approval, evidence or documentation makes a prohibited practice "
                    "deployable; withdraw the model.",
                    "Other findings for a prohibited practice",
                    ["EU AI Act Art. 5(1)"],
                )
            )
        return kept
    # Only without any card: a declared card (CI) is worth judging field by field, and
    # callers that keep some controls (mlgate gate) must still see theirs.
    if _card_trusted(doc) or doc.get("card_source", "none") != "none":
        return items
    card_bound = [
        v for v in items
        if v.control not in ROOT_CAUSES and (v.path + "/").startswith(CARD_PATHS)
    ]  # fmt: skip
    controls = sorted({v.control for v in card_bound})
    if len(controls) < 2:
        return items
    bound_ids = {id(v) for v in card_bound}
    kept = [v for v in items if id(v) not in bound_ids]
    kept.append(
        _summary(
            card_bound,
            NEEDS_ATTESTATION_CONTROL,
            f"{len(controls)} controls need a trusted governance attestation: "
            + ", ".join(controls),
            "Create the governance attestation with `mlgate attest` in the promotion pipeline "
            "and set mlgate.io/attestation; these controls are then judged on its card.",
            "Controls that read the model card",
            ["EU AI Act Art. 11(1)", "EU AI Act Art. 17(1)(d)"],
        )
    )
    return kept


def _best_exemption(
    policy_set: PolicySet, control: str, namespace: str, model: str, environment: str, now: int
) -> Exemption | None:
    """An active matching exemption if there is one, else an expired one (to warn about).

    A renewed exemption is often added below the expired one; the active one must win.
    """
    matching = [
        e for e in policy_set.exemptions if e.matches(control, namespace, model, environment)
    ]
    active = [e for e in matching if e.expires_ns >= now]
    if active:
        return max(active, key=lambda e: e.expires_ns)
    return max(matching, key=lambda e: e.expires_ns) if matching else None


def checked_findings(result: Any) -> list[dict[str, Any]]:
    """The findings of a backend answer; EvaluationError if the answer is malformed."""
    findings = result.get("findings") if isinstance(result, dict) else None
    if not isinstance(findings, list) or not all(
        isinstance(f, dict) and isinstance(f.get("control"), str) for f in findings
    ):
        raise EvaluationError(f"policy returned malformed findings: {str(result)[:200]}")
    return findings


def decide(
    doc: dict[str, Any], result: dict[str, Any], policy_set: PolicySet, backend: str
) -> Decision:
    tier = str(result.get("risk_tier", "unknown"))
    environment = str(result.get("environment") or doc["context"]["environment"])
    namespace = doc["request"].get("namespace", "")
    model = doc["model"].get("name", "")
    now = doc["context"]["now_ns"]

    denied: list[Violation] = []
    warned: list[Violation] = []
    audited: list[Violation] = []
    applied: list[AppliedExemption] = []
    seen: set[tuple[str, str, str]] = set()
    for finding in checked_findings(result):
        control_id = str(finding.get("control", ""))
        message = str(finding.get("message", ""))
        key = (control_id, message, str(finding.get("path", "")))
        if key in seen:
            continue
        seen.add(key)
        control = policy_set.catalogue.get(control_id)
        if control is None:
            # A rule that names a control the catalogue lacks still denies: fail closed.
            denied.append(
                system_violation(
                    UNKNOWN_CONTROL,
                    f"policy reported control {control_id!r}, which is not in controls.yaml: {message}",
                    "Add the control to policies/controls.yaml or fix the rule's control id.",
                )
            )
            continue
        if not control.applies(tier, environment):
            continue
        violation = Violation(
            control=control.id,
            severity=control.severity,
            enforcement=control.enforcement_for(environment, namespace),
            message=message,
            regulations=list(control.regulations),
            remediation=control.remediation,
            path=str(finding.get("path", "")),
            title=control.title,
        )
        exemption = _best_exemption(policy_set, control.id, namespace, model, environment, now)
        if exemption is not None and exemption.expires_ns >= now:
            applied.append(
                AppliedExemption(
                    id=exemption.id,
                    control=control.id,
                    reason=exemption.reason,
                    approver=exemption.approver,
                    expires=exemption.expires,
                    message=message,
                )
            )
            continue
        if exemption is not None:
            warned.append(
                Violation(
                    control=control.id,
                    severity="low",
                    enforcement="warn",
                    message=(
                        f"exemption {exemption.id} for {control.id} expired on "
                        f"{exemption.expires} and no longer applies"
                    ),
                    regulations=list(control.regulations),
                    remediation="Renew the exemption with a new approval, or fix the violation.",
                    path="",
                    title="Expired exemption",
                )
            )
        {"deny": denied, "warn": warned, "audit": audited}[violation.enforcement].append(violation)

    denied, warned, audited = (collapse(doc, items) for items in (denied, warned, audited))
    return Decision(
        allowed=not denied,
        decision_id=uuid.uuid4().hex,
        subject=subject_of(doc),
        risk_tier=tier,
        violations=denied,
        warnings=warned,
        audits=audited,
        exemptions=applied,
        policy_revision=policy_set.revision,
        backend=backend,
        evaluated_at=rfc3339(),
        dry_run=bool(doc["request"].get("dry_run", False)),
    )


def combine(decisions: list[Decision], subject: dict[str, Any]) -> Decision:
    """One decision for an object that references several models: denied if any is."""
    if len(decisions) == 1:
        return decisions[0]
    first = decisions[0]

    def tagged(d: Decision, items: list[Violation]) -> list[Violation]:
        component = d.subject.get("component") or d.subject.get("model", "")
        return [
            Violation(**{**v.to_dict(), "message": f"[{component}] {v.message}"}) for v in items
        ]

    order = ["prohibited", "high", "unknown", "limited", "minimal"]
    tiers = [d.risk_tier for d in decisions]
    return Decision(
        allowed=all(d.allowed for d in decisions),
        decision_id=first.decision_id,
        subject={**subject, "models": [d.subject for d in decisions]},
        risk_tier=min(tiers, key=lambda t: order.index(t) if t in order else len(order)),
        violations=[v for d in decisions for v in tagged(d, d.violations)],
        warnings=[v for d in decisions for v in tagged(d, d.warnings)],
        audits=[v for d in decisions for v in tagged(d, d.audits)],
        exemptions=[e for d in decisions for e in d.exemptions],
        notes=[n for d in decisions for n in d.notes],
        policy_revision=first.policy_revision,
        backend=first.backend,
        evaluated_at=first.evaluated_at,
        dry_run=first.dry_run,
    )
