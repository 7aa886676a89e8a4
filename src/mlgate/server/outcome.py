"""One admission request's state: the evaluation job, its ``Outcome``, and the decisions
the webhook makes without the engine.

The engine decides policy. The webhook itself builds only three kinds of decision, all here:
fail-closed denials of a request it could not evaluate (``system_denial``, through the one builder
``decide.failed_closed``), the admitted housekeeping UPDATE (``housekeeping``), and the
fail-open conversion of an infrastructure fault (``failed_open``).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from mlgate.decide import BACKEND_UNAVAILABLE_CONTROL, EVAL_ERROR_CONTROL, failed_closed
from mlgate.decision import Decision, Violation
from mlgate.engine import Engine
from mlgate.server.admission import AdmissionRequest
from mlgate.server.metrics import Metrics
from mlgate.subjects import Subject
from mlgate.timeutil import rfc3339

SYSTEM_REMEDIATION = "See the message; mlgate denies what it could not evaluate or record."

_ERROR_CONTROLS = frozenset({EVAL_ERROR_CONTROL, BACKEND_UNAVAILABLE_CONTROL})


@dataclass
class Outcome:
    """What a request gets: the decision and how it was reached."""

    decision: Decision | None
    code: int = 403
    error: str | None = None  # set when no real decision could be made
    fail_open: bool = False
    audit_ms: float = 0.0
    # An infrastructure fault (not caused by the request): the only kind --fail-open admits.
    infrastructure: bool = False
    # False: decided without running the policy (a housekeeping UPDATE); `mlgate impact`
    # then reports it as not replayable instead of looking for its input.
    evaluated: bool = True


class Job:
    """One evaluation handed to the pool, and whether its request is still waiting for it."""

    def __init__(self, review: AdmissionRequest, subject: Subject, engine: Engine, started: float):
        self.review, self.subject, self.engine, self.started = review, subject, engine, started
        self.lock = threading.Lock()
        self.stage = "evaluating"  # then "recording" once the record is handed to the writer
        self.abandoned = False
        self.inputs: list[dict[str, Any]] | None = None  # kept (masked) for `mlgate impact`
        # perf_counter() when a pool thread picked the job up, and when evaluation ended: the
        # record then says where a slow decision's time went (waiting, or evaluating).
        self.picked: float | None = None
        self.evaluated: float | None = None

    def stages_ms(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.picked is not None:
            out["queued"] = round((self.picked - self.started) * 1000, 3)
            if self.evaluated is not None:
                out["evaluating"] = round((self.evaluated - self.picked) * 1000, 3)
        return out

    def is_abandoned(self) -> bool:
        return self.abandoned

    def abandon(self) -> str:
        with self.lock:
            self.abandoned = True
            return self.stage


def is_error(decision: Decision) -> bool:
    """A decision the engine made only because evaluation failed (fail-closed)."""
    return bool(decision.violations) and all(
        v.control in _ERROR_CONTROLS for v in decision.violations
    )


def backend_unavailable(decision: Decision) -> bool:
    """Evaluation failed only because the backend could not be reached (infrastructure)."""
    return bool(decision.violations) and all(
        v.control == BACKEND_UNAVAILABLE_CONTROL for v in decision.violations
    )


def _subject(review: AdmissionRequest) -> dict[str, Any]:
    return {"kind": review.kind, "name": review.name, "namespace": review.namespace}


def system_denial(
    review: AdmissionRequest, engine: Engine | None, control: str, message: str, title: str
) -> Decision:
    """A fail-closed denial of a request the engine did not (or could not) evaluate."""
    return failed_closed(
        _subject(review),
        control,
        message,
        revision=engine.revision if engine is not None else "",
        backend=engine.backend.name if engine is not None else "",
        dry_run=review.dry_run,
        remediation=SYSTEM_REMEDIATION,
        title=title,
    )


def housekeeping(review: AdmissionRequest, engine: Engine | None) -> Outcome:
    """An UPDATE that changes no model-bearing field (subjects/changes.py): admitted, logged."""
    decision = Decision(
        allowed=True,
        decision_id=uuid.uuid4().hex,
        subject=_subject(review),
        risk_tier="unknown",
        notes=["housekeeping UPDATE: no model-bearing field changed; not re-evaluated"],
        policy_revision=engine.revision if engine is not None else "",
        backend=engine.backend.name if engine is not None else "",
        evaluated_at=rfc3339(),
        dry_run=review.dry_run,
    )
    return Outcome(decision, evaluated=False)


def failed_open(decision: Decision, message: str, metrics: Metrics) -> Outcome:
    """An infrastructure fault under --fail-open: admitted, its violations kept as warnings."""
    metrics.fail_open.inc()
    opened = dataclasses.replace(
        decision,
        allowed=True,
        violations=[],
        warnings=[
            Violation(
                **{**v.to_dict(), "enforcement": "warn", "message": f"fail-open: {v.message}"}
            )
            for v in decision.violations
        ]
        + list(decision.warnings),
    )
    return Outcome(opened, error=message, fail_open=True, infrastructure=True)
