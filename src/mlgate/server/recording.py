"""Recording admission decisions in the decision log, and what happens when it cannot.

A decision is answered only after its record is committed (or the commit is known to have
failed): an admission the log cannot show is denied, or admitted with a warning under
--fail-open (an infrastructure fault). Two paths commit: the pool thread that evaluated the
request (``record``, no hop back to the event loop) and the event loop for decisions made
without the pool (``record_async``: refusals, bad objects, errors).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from mlgate.audit import AuditWriter, Masker, decision_record, load_or_create_key
from mlgate.decide import AUDIT_ERROR_CONTROL, system_violation
from mlgate.decision import Decision
from mlgate.server.admission import AdmissionRequest
from mlgate.server.config import ServerConfig
from mlgate.server.metrics import Metrics
from mlgate.server.outcome import SYSTEM_REMEDIATION, Job, Outcome, failed_open


class DecisionRecorder:
    """The webhook's decision-log writer (``audit`` is None without --audit-db)."""

    def __init__(self, config: ServerConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.audit: AuditWriter | None = None
        self.masker = Masker(config.audit_mask)
        if config.audit_db:
            db = Path(config.audit_db)
            key = load_or_create_key(
                Path(config.audit_key_file) if config.audit_key_file else None, db
            )
            self.masker = Masker(config.audit_mask, key)
            self.audit = AuditWriter(
                db,
                retention_days=config.audit_retention_days,
                max_rows=config.audit_max_rows,
                prune_interval_s=config.audit_prune_interval_s,
                input_retention_days=config.audit_input_retention_days,
                input_max_rows=config.audit_input_max_rows,
                input_masker=self.masker,
                on_batch=metrics.observe_audit_batch,
            )

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()

    def record(self, job: Job, outcome: Outcome) -> Outcome:
        """On the pool thread: commit the record of an evaluated request and wait for it."""
        if self.audit is None:
            return outcome
        with job.lock:
            if job.abandoned:  # the request was already answered (deadline); do not log twice
                return outcome
            job.stage = "recording"
            # The input is masked and stored after the commit, off this request's path.
            payload = self._payload(job.review, outcome, job.started)
            payload["stages_ms"] = job.stages_ms()
            future = self.audit.submit(payload, inputs=job.inputs)
        recorded = time.perf_counter()
        try:
            future.result(timeout=self.config.audit_timeout_s)
            error = None
        except TimeoutError:
            error = f"commit did not finish within {self.config.audit_timeout_s:g}s"
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
        outcome.audit_ms = (time.perf_counter() - recorded) * 1000
        if error is not None:
            return self._failure(outcome.decision, error)
        return outcome

    async def record_async(
        self, review: AdmissionRequest, outcome: Outcome, started: float
    ) -> Outcome:
        """On the event loop: commit a decision made without the pool (errors, bad objects)."""
        if self.audit is None or outcome.decision is None:
            return outcome
        future = self.audit.submit(self._payload(review, outcome, started))
        try:
            # shield: a timeout must not cancel the writer's future (the commit may still land).
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), self.config.audit_timeout_s
            )
        except TimeoutError:
            return self._failure(
                outcome.decision, f"commit did not finish within {self.config.audit_timeout_s:g}s"
            )
        except Exception as err:
            return self._failure(outcome.decision, f"{type(err).__name__}: {err}")
        return outcome

    def _payload(
        self, review: AdmissionRequest, outcome: Outcome, started: float
    ) -> dict[str, Any]:
        assert outcome.decision is not None
        payload = decision_record(
            outcome.decision,
            self.masker,
            uid=review.uid,
            operation=review.operation,
            username=review.username,
            groups=review.groups,
            duration_ms=(time.perf_counter() - started) * 1000,
            fail_open=outcome.fail_open,
        )
        if outcome.error:
            payload["error"] = self.masker.text(outcome.error)
        if not outcome.evaluated:
            payload["evaluated"] = False
        return payload

    def _failure(self, decision: Decision | None, error: str) -> Outcome:
        """The commit failed: a denial stays a denial; an admission is denied (or fails open)."""
        assert decision is not None
        self.metrics.audit_errors.inc()
        message = f"the decision log could not record decision {decision.decision_id}: {error}"
        if not decision.allowed:
            return Outcome(decision, error=message)
        violation = system_violation(
            AUDIT_ERROR_CONTROL, message, SYSTEM_REMEDIATION, "Decision log unavailable"
        )
        if self.config.fail_open:
            return failed_open(
                dataclasses.replace(decision, violations=[violation]), message, self.metrics
            )
        return Outcome(
            dataclasses.replace(decision, allowed=False, violations=[violation]), error=message
        )
