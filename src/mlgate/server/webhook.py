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

This module is the order of that path; its parts live next to it: ``outcome`` (the request's
state and the decisions built without the engine), ``recording`` (the decision log),
``reply`` (response, metrics, log line), ``warmup`` (a policy set's first evaluations).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from mlgate.audit import AuditWriter
from mlgate.decide import (
    AUDIT_ERROR_CONTROL,
    EVAL_ERROR_CONTROL,
    INPUT_ERROR_CONTROL,
    LIMIT_CONTROL,
    OVERLOAD_CONTROL,
)
from mlgate.decision import Decision
from mlgate.engine import Engine
from mlgate.errors import EvaluationCancelled, InputError
from mlgate.server import admission
from mlgate.server.admission import AdmissionRequest, ReviewError
from mlgate.server.config import ServerConfig
from mlgate.server.limits import RequestLimits
from mlgate.server.memory import MemoryReleaser
from mlgate.server.metrics import Metrics
from mlgate.server.namespaces import NamespaceLabels, describe, load_namespace_source
from mlgate.server.outcome import (
    Job,
    Outcome,
    backend_unavailable,
    failed_open,
    housekeeping,
    is_error,
    system_denial,
)
from mlgate.server.recording import DecisionRecorder
from mlgate.server.refusals import Refusal, refuse_object, refuse_subject
from mlgate.server.reload import PolicyReloader
from mlgate.server.reply import json_body, observe, review_response
from mlgate.server.scheduler import FairScheduler, QueueFull
from mlgate.server.warmup import warm_pool, warm_up
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

log = logging.getLogger("mlgate.webhook")

KNOWN_KINDS = frozenset(supported_kinds()) | {"Namespace", "Service", "ConfigMap", "Secret"}


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
            on_idle=MemoryReleaser(observe=self.metrics.memory_release.observe),
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
            warm_up=warm_up,
        )
        self.namespaces: NamespaceLabels = load_namespace_source(
            static_file=config.namespace_labels_file,
            kube_api=config.kube_api,
            kube_token_file=config.kube_token_file,
            kube_ca_file=config.kube_ca_file,
            ttl_s=config.namespace_ttl_s,
            on_result=lambda result: self.metrics.namespace_lookups.labels(result=result).inc(),
        )
        self.recorder = DecisionRecorder(config, self.metrics)

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
        self.recorder.close()
        self.namespaces.close()

    def warm_pool(self) -> None:
        """One evaluation on every pool thread, so no request pays for an interpreter."""
        engine = self.reloader.engine
        if engine is not None:
            warm_pool(engine, self.scheduler, self.config.eval_threads)

    @property
    def audit(self) -> AuditWriter | None:
        """The decision-log writer (None without --audit-db)."""
        return self.recorder.audit

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
            return err.status, json_body({"error": err.message, "status": err.status})
        kind = review.kind if review.kind in KNOWN_KINDS else "other"
        self.metrics.requests.labels(kind=kind, operation=review.operation).inc()

        outcome = await self._decide(review, started)
        if outcome.decision is None:  # nothing to decide: no model, or DELETE/CONNECT
            self.metrics.decisions.labels(result="allowed").inc()
            self.metrics.duration.observe(time.perf_counter() - started)
            return 200, json_body(admission.review_response(review.uid, True))
        response = review_response(review, outcome)
        observe(self.metrics, review, outcome, time.perf_counter() - started)
        return 200, json_body(response)

    async def handle_oversized(self, head: bytes, message: str) -> tuple[int, bytes]:
        """A body past the size limit: a recorded denial if its uid can be read, else 413."""
        started = time.perf_counter()
        self.metrics.bad_requests.labels(status="413").inc()
        uid = admission.uid_at_head(head)
        log.warning("oversized admission request", extra={"fields": {"uid": uid, "error": message}})
        if uid is None:
            return 413, json_body({"error": message, "status": 413})
        self.metrics.refused.labels(reason="body_size").inc()
        review = AdmissionRequest(
            uid=uid, group="", version="", kind="unknown", operation="unknown", namespace="",
            name="", username="", groups=(), dry_run=False, object=None,
        )  # fmt: skip
        denial = self._denial(review, LIMIT_CONTROL, message, "Request too large to evaluate")
        outcome = await self.recorder.record_async(review, Outcome(denial, code=413), started)
        observe(self.metrics, review, outcome, time.perf_counter() - started)
        return 200, json_body(review_response(review, outcome))

    async def _decide(self, review: AdmissionRequest, started: float) -> Outcome:
        if review.operation in ("DELETE", "CONNECT"):
            return Outcome(None)
        assert review.object is not None  # the parser requires it for CREATE and UPDATE
        refused = self._refused(review, refuse_object(review, self.limits))
        if refused is not None:
            return await self.recorder.record_async(review, refused, started)
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
            return await self.recorder.record_async(review, Outcome(denial, code=400), started)
        except Exception as err:  # an adapter bug: answer (fail closed), do not drop the request
            log.exception("reading the object failed")
            message = f"internal error reading the object: {type(err).__name__}: {err}"
            return await self.recorder.record_async(
                review, self._error(review, "internal", message), started
            )
        if subject is None:
            return Outcome(None)
        refused = self._refused(review, refuse_subject(review, subject, self.limits))
        if refused is not None:
            return await self.recorder.record_async(review, refused, started)
        if review.operation == "UPDATE" and housekeeping_only(review.old_object, review.object):
            return await self.recorder.record_async(
                review, housekeeping(review, self.reloader.engine), started
            )
        engine = self.reloader.engine
        if engine is None:
            message = f"no policy set loaded: {self.reloader.status.last_error or 'loading'}"
            return await self.recorder.record_async(
                review, self._error(review, "no_policy", message, infrastructure=True), started
            )
        # One hop to a pool thread for evaluation *and* the audit commit: every hop back to
        # the event loop costs a wake-up and a GIL hand-over, on every request.
        job = Job(review, subject, engine, started)
        try:
            future = self.scheduler.submit(review.username, self._decide_and_record, job)
        except QueueFull as err:
            self.metrics.refused.labels(reason="queue_full").inc()
            message = f"mlgate is overloaded: {err}; retry later"
            denial = self._denial(review, OVERLOAD_CONTROL, message, "Webhook overloaded")
            return await self.recorder.record_async(review, Outcome(denial, code=429), started)
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
                return await self.recorder.record_async(review, outcome, started)
        if stage == "evaluating":
            message = f"evaluation exceeded the {self.config.timeout_s:g}s deadline"
            return await self.recorder.record_async(
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

    def _refused(self, review: AdmissionRequest, refusal: Refusal | None) -> Outcome | None:
        if refusal is None:
            return None
        self.metrics.refused.labels(reason=refusal.reason).inc()
        decision = self._denial(review, refusal.control, refusal.message, refusal.title)
        return Outcome(decision, code=refusal.code)

    def _decide_and_record(self, job: Job) -> Outcome | None:
        """Runs on a pool thread: evaluate, apply the failure policy, commit the record."""
        job.picked = time.perf_counter()
        if job.abandoned:  # answered already (deadline) while it waited
            return None
        try:
            decision, labels_ok = self._evaluate(job)
        except EvaluationCancelled:
            return None
        job.evaluated = time.perf_counter()
        if job.review.dry_run:
            decision.dry_run = True
        if time.perf_counter() - job.started > self.config.timeout_s:
            message = f"evaluation exceeded the {self.config.timeout_s:g}s deadline"
            outcome = self._error(job.review, "timeout", message)
        elif backend_unavailable(decision):
            self.metrics.evaluation_errors.labels(reason="backend_unavailable").inc()
            message = decision.violations[0].message
            outcome = (
                self._fail_open(decision, message)
                if self.config.fail_open
                else Outcome(decision, error=message, infrastructure=True)
            )
        elif is_error(decision):
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
        return self.recorder.record(job, outcome)

    def _evaluate(self, job: Job) -> tuple[Decision, bool]:
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

    def _denial(self, review: AdmissionRequest, control: str, message: str, title: str) -> Decision:
        return system_denial(review, self.reloader.engine, control, message, title)

    def _fail_open(self, decision: Decision, message: str) -> Outcome:
        return failed_open(decision, message, self.metrics)
