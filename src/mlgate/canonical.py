"""The canonical input's shape (schemas/input.schema.json) as TypedDicts, so that mypy checks
what the builders write (``inputs.InputBuilder``, ``inputs.promotion_input``).

The JSON schema stays the contract the engine validates against: a document read from a file
(``mlgate eval --input``) is untrusted and reaches the engine as a plain mapping
(``InputDocument``). A key the schema marks optional is ``NotRequired`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from mlgate.supplychain.facts import AttestationFacts, SignatureFacts

# What the engine accepts: a built CanonicalInput, or an untrusted document it validates.
InputDocument = Mapping[str, Any]


class User(TypedDict):
    username: str
    groups: list[str]


class Request(TypedDict):
    """Who asks to deploy what (``input.request``)."""

    operation: str  # CREATE, UPDATE, DELETE, CONNECT
    kind: str
    name: str
    namespace: str
    user: User
    api_version: NotRequired[str]
    component: NotRequired[str]  # which model reference in the object
    labels: NotRequired[dict[str, str]]
    annotations: NotRequired[dict[str, str]]
    namespace_labels: NotRequired[dict[str, str]]
    dry_run: NotRequired[bool]
    controller: NotRequired[dict[str, str]]  # the owner reference with controller: true


class BreakGlass(TypedDict, total=False):
    requested: bool
    reason: str
    rollback_to_digest: str


class Context(TypedDict):
    """When and where (``input.context``); dates are ns, policies never parse time."""

    environment: str
    now_ns: int
    break_glass: NotRequired[BreakGlass]
    last_approved_digest: NotRequired[str | None]


class Model(TypedDict):
    """One model reference (``input.model``)."""

    uri: str
    name: NotRequired[str]
    version: NotRequired[str]
    uri_scheme: NotRequired[str]
    uri_digest: NotRequired[str | None]
    declared_digest: NotRequired[str | None]
    format: NotRequired[str]
    runtime: NotRequired[str]
    role: NotRequired[str]  # model, unresolved, undeclared, runtime-image
    unresolved_reason: NotRequired[str]
    tokenizer: NotRequired[str]


class Approval(TypedDict):
    role: str
    approver: str
    approved_at_ns: NotRequired[int]


class Evidence(TypedDict, total=False):
    """Evaluation evidence (``input.evidence``): sections from ``mlgate gate`` (drift,
    fairness, metrics, stability) are its JSON documents; the engine adds ``schema`` and
    ``classification`` (card validation) before evaluating."""

    drift: dict[str, Any]
    fairness: dict[str, Any]
    metrics: dict[str, Any]
    stability: dict[str, Any]
    approvals: list[Approval]
    deployment: dict[str, Any]
    timeline: dict[str, int]
    schema: dict[str, Any]
    classification: dict[str, Any]


class Binding(TypedDict):
    """How the evidence is tied to this model reference (``input.binding``)."""

    evidence: str  # reference, object, none
    uri: str
    content_addressed: bool
    uri_content_addressed: bool
    attested_uris: list[str]
    uri_attested: bool
    loads: dict[str, Any] | None
    pod_start_steps: list[dict[str, Any]]


class CanonicalInput(TypedDict):
    """One canonical input: what the policy reads for one model reference."""

    source: Literal["admission", "manifest"]
    request: Request
    context: Context
    model: Model
    card: dict[str, Any]
    card_source: str  # attestation, declared, none
    signature: SignatureFacts
    attestation: SignatureFacts | AttestationFacts
    evidence: Evidence
    binding: NotRequired[Binding]
