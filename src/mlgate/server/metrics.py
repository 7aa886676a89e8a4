"""Prometheus metrics, one registry per app (tests run several apps in one process).

Names follow Gatekeeper's and Prometheus' conventions. The duration histogram has sub-ms
buckets because the budget is 1 ms per decision and 10 ms per request (DESIGN.md 7).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlgate_admission_requests", "AdmissionReview requests received.",
            ["kind", "operation"], registry=r,
        )  # fmt: skip
        self.bad_requests = Counter(
            "mlgate_admission_bad_requests", "Requests rejected before a decision (HTTP 4xx).",
            ["status"], registry=r,
        )  # fmt: skip
        self.decisions = Counter(
            "mlgate_decisions", "Admission decisions by result.", ["result"], registry=r
        )
        self.violations = Counter(
            "mlgate_violations", "Violations reported in decisions.",
            ["control", "enforcement"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "mlgate_decision_duration_seconds",
            "Time from a parsed AdmissionReview to its response (evaluation and audit commit).",
            buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.evaluation_errors = Counter(
            "mlgate_evaluation_errors", "Evaluations that failed or timed out.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.refused = Counter(
            "mlgate_admission_refused",
            "Requests denied before evaluation: a work limit, a full queue, a CI-only kind.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "mlgate_evaluation_queue_depth", "Requests waiting for an evaluation thread.",
            registry=r,
        )  # fmt: skip
        self.fail_open = Counter(
            "mlgate_fail_open",
            "Requests admitted because of --fail-open after an error.",
            registry=r,
        )
        self.revision = Gauge(
            "mlgate_policy_revision_info", "The policy revision being enforced (value 1).",
            ["revision"], registry=r,
        )  # fmt: skip
        self.last_reload = Gauge(
            "mlgate_policy_last_reload_timestamp_seconds",
            "When the enforced policy set was loaded (Unix time).", registry=r,
        )  # fmt: skip
        self.reload_failures = Counter(
            "mlgate_policy_reload_failures", "Policy reloads that failed (the last good set stays).",
            registry=r,
        )  # fmt: skip
        self.policy_loaded = Gauge(
            "mlgate_policy_loaded", "1 when a policy set is loaded and enforced.", registry=r
        )
        self.audit_batch = Histogram(
            "mlgate_audit_commit_batch_size", "Records per audit log commit (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r,
        )  # fmt: skip
        self.audit_commit = Histogram(
            "mlgate_audit_commit_duration_seconds", "Time to append and fsync one batch.",
            buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.audit_errors = Counter(
            "mlgate_audit_write_errors", "Decisions whose audit record could not be committed.",
            registry=r,
        )  # fmt: skip
        self.namespace_lookups = Counter(
            "mlgate_namespace_label_lookups", "Namespace label look-ups by result.",
            ["result"], registry=r,
        )  # fmt: skip
        self.memory_release = Histogram(
            "mlgate_memory_release_duration_seconds",
            "Time to give memory back after a burst (gc.collect and malloc_trim), when the "
            "evaluation threads go idle.",
            buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.tls_reloads = Counter(
            "mlgate_tls_reloads", "Serving certificate reloads by result.", ["result"], registry=r
        )

    def set_revision(self, revision: str, loaded_at: float) -> None:
        self.revision.clear()
        self.revision.labels(revision=revision).set(1)
        self.last_reload.set(loaded_at)
        self.policy_loaded.set(1)

    def observe_audit_batch(self, size: int, seconds: float) -> None:
        self.audit_batch.observe(size)
        self.audit_commit.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
