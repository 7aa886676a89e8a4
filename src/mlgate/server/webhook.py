"""The admission decision path: AdmissionReview in, AdmissionReview out, decision logged.

Per request: parse and validate the review (400/413 on garbage) -> fast allow for DELETE and
objects that carry no model (no engine call) -> work limits -> namespace labels and
evaluation on the fair scheduler under a deadline -> the audit record committed -> the
response. Any failure on the way denies (fail closed).

``fail_open`` admits (logged and metered) only after an *infrastructure* fault: the backend
is unreachable, no policy set is loaded, the namespace API does not answer, the decision
log cannot commit. A failure the request's own content can cause (its size, its strings,
the work it triggers, a full queue, a deadline) always denies: otherwise any deployer could
be admitted at will by making evaluation fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.audit import AuditWriter, Masker, decision_record, load_or_create_key
from mlgate.decide import (
    AUDIT_ERROR_CONTROL,
    BACKEND_UNAVAILABLE_CONTROL,
    EVAL_ERROR_CONTROL,
    INPUT_ERROR_CONTROL,
    LIMIT_CONTROL,
    OVERLOAD_CONTROL,
    failed_closed,
    system_violation,
)
from mlgate.decision import Decision, Violation
from mlgate.engine import Engine
from mlgate.errors import EvaluationCancelled, InputError
from mlgate.server import admission
from mlgate.server.admission import AdmissionRequest, ReviewError
from mlgate.server.config import ServerConfig
from mlgate.server.limits import RequestLimits
from mlgate.server.memory import MemoryReleaser
from mlgate.server.metrics import Metrics
from mlgate.server.namespaces import NamespaceLabels, describe, load_namespace_source
from mlgate.server.reload import PolicyReloader
from mlgate.server.scheduler import FairScheduler, QueueFull
from mlgate.subjects import (
    DECLARE_MODELS_LABEL,
    RequestInfo,
    Subject,
    runs_pods,
    subject_from_object,
    supported_kinds,
)
from mlgate.subjects.changes import housekeeping_only
from mlgate.subjects.servers import catalog_for
from mlgate.timeutil import rfc3339

log = logging.getLogger("mlgate.webhook")
decision_log = logging.getLogger("mlgate.decision")

# Formats for CI only: on /validate they would let the deployer declare its own environment,
# groups and evidence, and make the server read files from its own disk.
CI_ONLY_GROUPS = frozenset({"mlgate.io"})
KNOWN_KINDS = frozenset(supported_kinds()) | {"Namespace", "Service", "ConfigMap", "Secret"}
WARM_UP_OBJECT = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "mlgate-warm-up", "namespace": "mlgate-warm-up"},
    "spec": {
        "predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://warm/up"}}
    },
}


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


class _Job:
    """One evaluation handed to the pool, and whether its request is still waiting for it."""

    def __init__(self, review: AdmissionRequest, subject: Subject, engine: Engine, started: float):
        self.review, self.subject, self.engine, self.started = review, subject, engine, started
        self.lock = threading.Lock()
        self.stage = "evaluating"
        self.abandoned = False
        self.inputs: list[dict[str, Any]] | None = None  # kept (masked) for `mlgate impact`

    def is_abandoned(self) -> bool:
        return self.abandoned

    def abandon(self) -> str:
        with self.lock:
            self.abandoned = True
            return self.stage


_SYSTEM_REMEDIATION = "See the message; mlgate denies what it could not evaluate or record."


_ERROR_CONTROLS = frozenset({EVAL_ERROR_CONTROL, BACKEND_UNAVAILABLE_CONTROL})


def _is_error(decision: Decision) -> bool:
    """A decision the engine made only because evaluation failed (fail-closed)."""
    return bool(decision.violations) and all(
        v.control in _ERROR_CONTROLS for v in decision.violations
    )


def _backend_unavailable(decision: Decision) -> bool:
    """Evaluation failed only because the backend could not be reached (infrastructure)."""
    return bool(decision.violations) and all(
        v.control == BACKEND_UNAVAILABLE_CONTROL for v in decision.violations
    )


class Webhook:
    def __init__(self, config: ServerConfig, metrics: Metrics | None = None) -> None:
        from mlgate.policyset import default_policy_dir

        self.config = config
        self.metrics = metrics or Metrics()
        self.policy_dir = Path(config.policy_dir) if config.policy_dir else default_policy_dir()
        self.limits = RequestLimits(
            max_model_refs=config.max_model_refs,
            max_containers=config.max_containers,
            max_annotations=config.max_annotations,
            max_annotation_bytes=config.max_annotation_bytes,
        )
        self.scheduler = FairScheduler(
            config.eval_threads,
            max_queue=config.max_queue,
            max_per_client=config.max_queue_per_user,
            on_idle=MemoryReleaser(),
        )
        self.reloader = PolicyReloader(
            self.policy_dir,
            interval_s=config.reload_interval_s,
            # One Wasm instance per evaluation thread (the OPA backend ignores pool_size).
            build=lambda path: Engine.from_path(
                path, config.backend, pool_size=config.eval_threads
            ),
            on_loaded=lambda engine: self.metrics.set_revision(engine.revision, time.time()),
            on_failure=lambda _: self.metrics.reload_failures.inc(),
            warm_up=self._warm_up,
        )
        self.namespaces: NamespaceLabels = load_namespace_source(
            static_file=config.namespace_labels_file,
            kube_api=config.kube_api,
            kube_token_file=config.kube_token_file,
            kube_ca_file=config.kube_ca_file,
            ttl_s=config.namespace_ttl_s,
            on_result=lambda result: self.metrics.namespace_lookups.labels(result=result).inc(),
        )
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
                on_batch=self.metrics.observe_audit_batch,
            )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.reloader.load()
        self.reloader.start()
        log.info(
            "webhook started",
            extra={
                "fields": {
                    "policies": str(self.policy_dir),
                    "revision": self.reloader.status.revision,
                    "audit_db": self.config.audit_db,
                    "fail_open": self.config.fail_open,
                    "namespace_labels": describe(self.namespaces),
                }
            },
        )
        if self.config.fail_open:
            log.warning(
                "fail-open is ON: infrastructure faults (backend, namespace API, decision log "
                "unavailable) admit requests; request-caused failures still deny"
            )
        if not self.config.audit_db:
            log.warning("decision log disabled (no --audit-db): decisions are not recorded")

    def close(self) -> None:
        self.reloader.stop()
        self.scheduler.close()
        if self.audit is not None:
            self.audit.close()
        self.namespaces.close()

    def _warm_up(self, engine: Engine) -> None:
        """Builds lazy state (trust roots, interpreters) and rejects a set that cannot decide."""
        subject = subject_from_object(
            WARM_UP_OBJECT, RequestInfo(operation="CREATE"), where="warm-up"
        )
        assert subject is not None
        decision = engine.evaluate_subject(subject)
        if _is_error(decision):
            raise RuntimeError(
                "policy set fails on a reference object: " + decision.violations[0].message
            )

    def warm_pool(self) -> None:
        """One evaluation on every pool thread, so no request pays for an interpreter."""
        engine = self.reloader.engine
        if engine is None:
            return
        barrier = threading.Barrier(self.config.eval_threads)

        def job() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)
            subject = subject_from_object(WARM_UP_OBJECT, RequestInfo(), where="warm-up")
            assert subject is not None
            engine.evaluate_subject(subject)

        # One client name per thread: the scheduler gives no single client every thread.
        futures = [
            self.scheduler.submit(f"mlgate-warm-up-{i}", job)
            for i in range(self.config.eval_threads)
        ]
        for future in futures:
            future.result(timeout=30)

    # -- the request path ----------------------------------------------------------------

    async def handle(self, body: bytes) -> tuple[int, bytes]:
        """HTTP status and JSON body for one POST /validate."""
        started = time.perf_counter()
        try:
            review = admission.parse_review(body, max_depth=self.config.max_depth)
        except ReviewError as err:
            self.metrics.bad_requests.labels(status=str(err.status)).inc()
            log.warning(
                "rejected admission request",
                extra={"fields": {"status": err.status, "error": err.message}},
            )
            return err.status, _json({"error": err.message, "status": err.status})
        kind = review.kind if review.kind in KNOWN_KINDS else "other"
        self.metrics.requests.labels(kind=kind, operation=review.operation).inc()

        outcome = await self._decide(review, started)
        if outcome.decision is None:  # nothing to decide: no model, or DELETE/CONNECT
            self.metrics.decisions.labels(result="allowed").inc()
            self.metrics.duration.observe(time.perf_counter() - started)
            return 200, _json(admission.review_response(review.uid, True))
        response = self._response(review, outcome)
        self._observe(review, outcome, time.perf_counter() - started)
        return 200, _json(response)

    async def handle_oversized(self, head: bytes, message: str) -> tuple[int, bytes]:
        """A body past the size limit: a recorded denial if its uid can be read, else 413."""
        started = time.perf_counter()
        self.metrics.bad_requests.labels(status="413").inc()
        uid = admission.uid_at_head(head)
        log.warning("oversized admission request", extra={"fields": {"uid": uid, "error": message}})
        if uid is None:
            return 413, _json({"error": message, "status": 413})
        self.metrics.refused.labels(reason="body_size").inc()
        review = AdmissionRequest(
            uid=uid, group="", version="", kind="unknown", operation="unknown", namespace="",
            name="", username="", groups=(), dry_run=False, object=None,
        )  # fmt: skip
        denial = self._denial(review, LIMIT_CONTROL, message, "Request too large to evaluate")
        outcome = await self._record_async(review, Outcome(denial, code=413), started)
        self._observe(review, outcome, time.perf_counter() - started)
        return 200, _json(self._response(review, outcome))

    async def _decide(self, review: AdmissionRequest, started: float) -> Outcome:
        if review.operation in ("DELETE", "CONNECT"):
            return Outcome(None)
        assert review.object is not None  # the parser requires it for CREATE and UPDATE
        refused = self._refusal(review)
        if refused is not None:
            return await self._record_async(review, refused, started)
        info = RequestInfo(
            operation=review.operation,
            username=review.username,
            groups=review.groups,
            dry_run=review.dry_run,
            source="admission",
        )
        # The model-server images of the loaded policy set (params.yaml model_servers).
        policy_set = getattr(self.reloader.engine, "policy_set", None)
        servers = catalog_for(policy_set) if policy_set is not None else None
        try:
            subject = subject_from_object(
                review.object, info, where="AdmissionReview /request/object", servers=servers
            )
            if subject is None and runs_pods(review.object):
                subject = await self._undeclared(review, info, servers)
        except InputError as err:
            message = f"invalid {review.kind}: {err}"
            denial = self._denial(review, INPUT_ERROR_CONTROL, message, "Invalid object")
            return await self._record_async(review, Outcome(denial, code=400), started)
        except Exception as err:  # an adapter bug: answer (fail closed), do not drop the request
            log.exception("reading the object failed")
            message = f"internal error reading the object: {type(err).__name__}: {err}"
            return await self._record_async(
                review, self._error(review, "internal", message), started
            )
        if subject is None:
            return Outcome(None)
        refused = self._refuse_subject(review, subject)
        if refused is not None:
            return await self._record_async(review, refused, started)
        if review.operation == "UPDATE" and housekeeping_only(review.old_object, review.object):
            return await self._record_async(review, self._housekeeping(review), started)
        engine = self.reloader.engine
        if engine is None:
            message = f"no policy set loaded: {self.reloader.status.last_error or 'loading'}"
            return await self._record_async(
                review, self._error(review, "no_policy", message, infrastructure=True), started
            )
        # One hop to a pool thread for evaluation *and* the audit commit: every hop back to
        # the event loop costs a wake-up and a GIL hand-over, on every request.
        job = _Job(review, subject, engine, started)
        try:
            future = self.scheduler.submit(review.username, self._decide_and_record, job)
        except QueueFull as err:
            self.metrics.refused.labels(reason="queue_full").inc()
            message = f"mlgate is overloaded: {err}; retry later"
            denial = self._denial(review, OVERLOAD_CONTROL, message, "Webhook overloaded")
            return await self._record_async(review, Outcome(denial, code=429), started)
        self.metrics.queue_depth.set(self.scheduler.queued)
        try:
            # On timeout wait_for cancels the wrapped future: a queued job is then dropped
            # unrun, and a running one stops at its next model reference (job.abandoned).
            outcome: Outcome | None = await asyncio.wait_for(
                asyncio.wrap_future(future),
                timeout=self.config.timeout_s + self.config.audit_timeout_s,
            )
            if outcome is not None:
                return outcome
            stage = job.abandon()  # cannot happen unless abandoned: deny as a timeout
        except TimeoutError:
            stage = job.abandon()
        except Exception as err:  # a bug anywhere below must deny, not admit
            log.exception("evaluation crashed")
            stage = job.abandon()
            if stage == "evaluating":
                outcome = self._error(
                    review, "internal", f"internal error: {type(err).__name__}: {err}"
                )
                return await self._record_async(review, outcome, started)
        if stage == "evaluating":
            message = f"evaluation exceeded the {self.config.timeout_s:g}s deadline"
            return await self._record_async(
                review, self._error(review, "timeout", message), started
            )
        # The record was handed to the writer but its commit was never confirmed.
        self.metrics.audit_errors.inc()
        message = "the decision log did not confirm the commit in time"
        denial = self._denial(review, AUDIT_ERROR_CONTROL, message, "Decision log unavailable")
        return (
            self._fail_open(denial, message)
            if self.config.fail_open
            else Outcome(denial, error=message, infrastructure=True)
        )

    async def _undeclared(
        self, review: AdmissionRequest, info: RequestInfo, servers: Any
    ) -> Subject | None:
        """A workload without models is a subject when its namespace requires declarations
        (mlgate.io/require-declared-models); the namespace lookup is cached and off-loop."""
        labels = await asyncio.to_thread(self.namespaces.get, review.namespace)
        if labels.get(DECLARE_MODELS_LABEL) != "true":
            return None
        info = dataclasses.replace(info, namespace_labels=labels)
        return subject_from_object(
            review.object, info, where="AdmissionReview /request/object", servers=servers
        )

    def _refusal(self, review: AdmissionRequest) -> Outcome | None:
        """A denial before any adapter runs: a CI-only format, or an object past a limit."""
        assert review.object is not None
        if review.group in CI_ONLY_GROUPS:
            self.metrics.refused.labels(reason="ci_only_kind").inc()
            message = (
                f"{review.group}/{review.version} {review.kind} is a CI format (mlgate check), "
                "not accepted on /validate: deploy the Kubernetes object that serves the model"
            )
            return Outcome(
                self._denial(review, INPUT_ERROR_CONTROL, message, "Not a Kubernetes object"),
                code=400,
            )
        problem = self.limits.check_object(review.object)
        if problem is None:
            return None
        self.metrics.refused.labels(reason="limit").inc()
        denial = self._denial(review, LIMIT_CONTROL, problem, "Request too large to evaluate")
        return Outcome(denial, code=413)

    def _refuse_subject(self, review: AdmissionRequest, subject: Subject) -> Outcome | None:
        if subject.info.source != "admission" or subject.info.environment is not None:
            # An adapter took "who asks" or "where" from the object itself.
            self.metrics.refused.labels(reason="ci_only_kind").inc()
            message = f"{review.kind} declares its own deployer or environment: a CI format"
            denial = self._denial(review, INPUT_ERROR_CONTROL, message, "Not a Kubernetes object")
            return Outcome(denial, code=400)
        problem = self.limits.check_models(len(subject.models))
        if problem is None:
            return None
        self.metrics.refused.labels(reason="limit").inc()
        denial = self._denial(review, LIMIT_CONTROL, problem, "Request too large to evaluate")
        return Outcome(denial, code=413)

    def _decide_and_record(self, job: _Job) -> Outcome | None:
        """Runs on a pool thread: evaluate, apply the failure policy, commit the record."""
        if job.abandoned:  # answered already (deadline) while it waited
            return None
        try:
            decision, labels_ok = self._evaluate(job)
        except EvaluationCancelled:
            return None
        if job.review.dry_run:
            decision.dry_run = True
        if time.perf_counter() - job.started > self.config.timeout_s:
            message = f"evaluation exceeded the {self.config.timeout_s:g}s deadline"
            outcome = self._error(job.review, "timeout", message)
        elif _backend_unavailable(decision):
            self.metrics.evaluation_errors.labels(reason="backend_unavailable").inc()
            message = decision.violations[0].message
            outcome = (
                self._fail_open(decision, message)
                if self.config.fail_open
                else Outcome(decision, error=message, infrastructure=True)
            )
        elif _is_error(decision):
            # The backend answered and failed on this input: request-caused, always a denial.
            self.metrics.evaluation_errors.labels(reason="evaluation").inc()
            outcome = Outcome(decision, error=decision.violations[0].message)
        elif not labels_ok and not decision.allowed and self.config.fail_open:
            # Judged as production only because the namespace API did not answer.
            message = "namespace labels unavailable (Kubernetes API): judged as production"
            self.metrics.evaluation_errors.labels(reason="namespace_unavailable").inc()
            outcome = self._fail_open(decision, message)
        else:
            outcome = Outcome(decision)
        if self.audit is None:
            return outcome
        with job.lock:
            if job.abandoned:  # the request was already answered (deadline); do not log twice
                return outcome
            job.stage = "recording"
            # The input is masked and stored after the commit, off this request's path.
            future = self.audit.submit(
                self._payload(job.review, outcome, job.started), inputs=job.inputs
            )
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
            return self._audit_failure(outcome.decision, error)
        return outcome

    def _evaluate(self, job: _Job) -> tuple[Decision, bool]:
        """The decision, and whether the namespace labels were available."""
        subject, review, engine = job.subject, job.review, job.engine
        namespace = review.namespace or subject.namespace
        labels, available = self.namespaces.lookup(namespace)
        info = dataclasses.replace(subject.info, namespace_labels=labels)
        subject = dataclasses.replace(subject, info=info, namespace=subject.namespace or namespace)
        try:
            # Card validation is part of the stored input: the log masks the card's emails.
            inputs = [engine.with_card_evidence(doc) for doc in engine.build_inputs(subject)]
        except Exception:  # evaluate_subject fails closed and names the cause
            return engine.evaluate_subject(subject, cancelled=job.is_abandoned), available
        job.inputs = inputs  # kept (masked) in the decision log for `mlgate impact`
        decision = engine.evaluate_all(inputs, subject.describe(), cancelled=job.is_abandoned)
        return decision, available

    def _denial(self, review: AdmissionRequest, control: str, message: str, title: str) -> Decision:
        engine = self.reloader.engine
        return failed_closed(
            {"kind": review.kind, "name": review.name, "namespace": review.namespace},
            control,
            message,
            revision=engine.revision if engine is not None else "",
            backend=engine.backend.name if engine is not None else "",
            dry_run=review.dry_run,
            remediation=_SYSTEM_REMEDIATION,
            title=title,
        )

    def _housekeeping(self, review: AdmissionRequest) -> Outcome:
        """An UPDATE that changes no model-bearing field (subjects/changes.py): admitted, logged."""
        engine = self.reloader.engine
        decision = Decision(
            allowed=True,
            decision_id=uuid.uuid4().hex,
            subject={"kind": review.kind, "name": review.name, "namespace": review.namespace},
            risk_tier="unknown",
            notes=["housekeeping UPDATE: no model-bearing field changed; not re-evaluated"],
            policy_revision=engine.revision if engine is not None else "",
            backend=engine.backend.name if engine is not None else "",
            evaluated_at=rfc3339(),
            dry_run=review.dry_run,
        )
        return Outcome(decision, evaluated=False)

    def _error(
        self, review: AdmissionRequest, reason: str, message: str, *, infrastructure: bool = False
    ) -> Outcome:
        self.metrics.evaluation_errors.labels(reason=reason).inc()
        opening = self.config.fail_open and infrastructure
        log.error("no decision, %s", "admitting (fail-open)" if opening else "denying",
                  extra={"fields": {"uid": review.uid, "reason": reason, "error": message,
                                    "infrastructure": infrastructure}})  # fmt: skip
        decision = self._denial(
            review, EVAL_ERROR_CONTROL, message, "Decision could not be made; failing closed"
        )
        if opening:
            return self._fail_open(decision, message)
        return Outcome(decision, error=message, infrastructure=infrastructure)

    def _fail_open(self, decision: Decision, message: str) -> Outcome:
        self.metrics.fail_open.inc()
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

    def _audit_failure(self, decision: Decision | None, error: str) -> Outcome:
        assert decision is not None
        self.metrics.audit_errors.inc()
        message = f"the decision log could not record decision {decision.decision_id}: {error}"
        if not decision.allowed:
            return Outcome(decision, error=message)
        if self.config.fail_open:
            return self._fail_open(
                dataclasses.replace(decision, violations=[system_violation(AUDIT_ERROR_CONTROL, message, _SYSTEM_REMEDIATION, "Decision log unavailable")]),
                message,
            )  # fmt: skip
        denied = dataclasses.replace(
            decision,
            allowed=False,
            violations=[
                system_violation(
                    AUDIT_ERROR_CONTROL, message, _SYSTEM_REMEDIATION, "Decision log unavailable"
                )
            ],
        )
        return Outcome(denied, error=message)

    def _payload(
        self,
        review: AdmissionRequest,
        outcome: Outcome,
        started: float,
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

    async def _record_async(
        self, review: AdmissionRequest, outcome: Outcome, started: float
    ) -> Outcome:
        """The event-loop path for decisions made without the pool (errors, bad objects)."""
        if self.audit is None or outcome.decision is None:
            return outcome
        future = self.audit.submit(self._payload(review, outcome, started))
        try:
            # shield: a timeout must not cancel the writer's future (the commit may still land).
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), self.config.audit_timeout_s
            )
        except TimeoutError:
            return self._audit_failure(
                outcome.decision, f"commit did not finish within {self.config.audit_timeout_s:g}s"
            )
        except Exception as err:
            return self._audit_failure(outcome.decision, f"{type(err).__name__}: {err}")
        return outcome

    def _response(self, review: AdmissionRequest, outcome: Outcome) -> dict[str, Any]:
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

    def _observe(self, review: AdmissionRequest, outcome: Outcome, elapsed: float) -> None:
        decision = outcome.decision
        assert decision is not None
        result = "error" if outcome.error else "allowed" if decision.allowed else "denied"
        self.metrics.decisions.labels(result=result).inc()
        self.metrics.duration.observe(elapsed)
        for v in (*decision.violations, *decision.warnings, *decision.audits):
            self.metrics.violations.labels(control=v.control, enforcement=v.enforcement).inc()
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


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
