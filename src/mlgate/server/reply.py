"""What an answered admission request leaves behind: the AdmissionReview response, the
metrics, and one structured ``mlgate.decision`` log line."""

from __future__ import annotations

import json
import logging
from typing import Any

from mlgate.server import admission
from mlgate.server.admission import AdmissionRequest
from mlgate.server.metrics import Metrics
from mlgate.server.outcome import Outcome

decision_log = logging.getLogger("mlgate.decision")


def review_response(review: AdmissionRequest, outcome: Outcome) -> dict[str, Any]:
    """The AdmissionReview response for a decided request."""
    decision = outcome.decision
    assert decision is not None
    warnings = admission.decision_warnings(decision)
    if outcome.fail_open:
        warnings.insert(0, f"mlgate failed open (no real decision): {outcome.error}")
    name = review.name or str(decision.subject.get("name", ""))
    return admission.review_response(
        review.uid,
        decision.allowed,
        code=outcome.code if not decision.allowed else None,
        message=admission.denial_message(decision, review.kind, review.namespace, name)
        if not decision.allowed
        else "",
        warnings=warnings,
        audit_annotations=admission.audit_annotations(decision, fail_open=outcome.fail_open),
    )


def observe(metrics: Metrics, review: AdmissionRequest, outcome: Outcome, elapsed: float) -> None:
    """Counts the decision and its violations, and writes its ``mlgate.decision`` log line."""
    decision = outcome.decision
    assert decision is not None
    result = "error" if outcome.error else "allowed" if decision.allowed else "denied"
    metrics.decisions.labels(result=result).inc()
    metrics.duration.observe(elapsed)
    for v in (*decision.violations, *decision.warnings, *decision.audits):
        metrics.violations.labels(control=v.control, enforcement=v.enforcement).inc()
    decision_log.info(
        "decision",
        extra={
            "fields": {
                "uid": review.uid,
                "decision_id": decision.decision_id,
                "kind": review.kind,
                "namespace": review.namespace,
                "name": review.name or decision.subject.get("name", ""),
                "operation": review.operation,
                "allowed": decision.allowed,
                "dry_run": decision.dry_run,
                "controls": decision.denied_controls,
                "warnings": sorted({v.control for v in decision.warnings}),
                "result": result,
                "fail_open": outcome.fail_open,
                "policy_revision": decision.policy_revision,
                "duration_ms": round(elapsed * 1000, 3),
                "audit_ms": round(outcome.audit_ms, 3),
            }
        },
    )


def json_body(value: Any) -> bytes:
    """Compact JSON for an HTTP body."""
    return json.dumps(value, separators=(",", ":")).encode()
