"""Requests refused before evaluation: a CI-only format on /validate, or work past a limit.

Checked on the raw object (``refuse_object``, before any adapter runs) and again on the
subject an adapter read from it (``refuse_subject``). A refusal is always a denial: its
cause is the request's own content, which ``--fail-open`` never admits.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlgate.decide import INPUT_ERROR_CONTROL, LIMIT_CONTROL
from mlgate.server.admission import AdmissionRequest
from mlgate.server.limits import RequestLimits
from mlgate.subjects import Subject

# Formats for CI only: on /validate they would let the deployer declare its own environment,
# groups and evidence, and make the server read files from its own disk.
CI_ONLY_GROUPS = frozenset({"mlgate.io"})


@dataclass(frozen=True)
class Refusal:
    reason: str  # the mlgate_refused_total label
    control: str
    message: str
    title: str
    code: int  # the AdmissionReview status code


def _not_kubernetes(message: str) -> Refusal:
    return Refusal("ci_only_kind", INPUT_ERROR_CONTROL, message, "Not a Kubernetes object", 400)


def _too_large(problem: str) -> Refusal:
    return Refusal("limit", LIMIT_CONTROL, problem, "Request too large to evaluate", 413)


def refuse_object(review: AdmissionRequest, limits: RequestLimits) -> Refusal | None:
    """A CI-only format, or an object past a limit; None when it may go on."""
    assert review.object is not None
    if review.group in CI_ONLY_GROUPS:
        return _not_kubernetes(
            f"{review.group}/{review.version} {review.kind} is a CI format (mlgate check), "
            "not accepted on /validate: deploy the Kubernetes object that serves the model"
        )
    problem = limits.check_object(review.object)
    return None if problem is None else _too_large(problem)


def refuse_subject(
    review: AdmissionRequest, subject: Subject, limits: RequestLimits
) -> Refusal | None:
    """An adapter that took "who asks" or "where" from the object, or too many models."""
    if subject.info.source != "admission" or subject.info.environment is not None:
        return _not_kubernetes(
            f"{review.kind} declares its own deployer or environment: a CI format"
        )
    problem = limits.check_models(len(subject.models))
    return None if problem is None else _too_large(problem)
