"""What a replay produces: one item per decision or object, with both policy sets' outcomes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlgate.decision import Decision

REPLAYED = "replayed"
NOT_REPRODUCIBLE = "not-reproducible"

ALLOW_TO_DENY = "allow->deny"
DENY_TO_ALLOW = "deny->allow"
NEW_WARNING = "new-warning"
REASONS_CHANGED = "deny-reasons-changed"
WARNING_DROPPED = "warning-dropped"
UNCHANGED = "unchanged"
CHANGES = (ALLOW_TO_DENY, DENY_TO_ALLOW, NEW_WARNING, REASONS_CHANGED, WARNING_DROPPED)

# Why a recorded decision cannot be replayed exactly (``ReplayItem.reason_code``).
NO_DECISION = "no-decision"  # the record holds no decision
REFUSED = "refused-before-evaluation"  # a limit, an invalid object, a full queue: no policy ran
NOT_EVALUATED = "not-evaluated"  # admitted without evaluation (housekeeping UPDATE)
SYSTEM_FAILURE = "system-failure"  # evaluation or recording failed, or fail-open admitted
NO_STORED_INPUT = "no-stored-input"  # recorded before inputs were kept, or past retention
INPUT_TAMPERED = "input-digest-mismatch"  # the stored input is not the one the chain names
REVISION_MISMATCH = "revision-mismatch"  # the recording revision no longer gives the record
TRUST_CHANGED = "trust-changed"  # logged signature facts were verified under the old trust
MASKED_DEPENDENCE = "depends-on-masked-data"  # the result hinges on values kept only masked
REASON_CODES = (
    NO_DECISION, REFUSED, NOT_EVALUATED, SYSTEM_FAILURE, NO_STORED_INPUT, INPUT_TAMPERED,
    REVISION_MISMATCH, TRUST_CHANGED, MASKED_DEPENDENCE,
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """The part of a decision that a policy change can flip."""

    allowed: bool
    denied: tuple[str, ...] = ()
    warned: tuple[str, ...] = ()

    @classmethod
    def of(cls, decision: Decision) -> Outcome:
        return cls(
            decision.allowed,
            tuple(decision.denied_controls),
            tuple(sorted({v.control for v in decision.warnings})),
        )

    @classmethod
    def of_dict(cls, decision: dict[str, Any]) -> Outcome:
        return cls.of(Decision.from_dict(decision))

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "denied": list(self.denied), "warned": list(self.warned)}


@dataclass
class ReplayItem:
    origin: str  # "audit" | "object"
    ref: str  # "audit #12" or "examples/k8s/x.yaml#0"
    kind: str
    namespace: str
    name: str
    models: list[str]
    environment: str
    status: str = REPLAYED
    reason: str = ""
    reason_code: str = ""  # one of REASON_CODES when status is NOT_REPRODUCIBLE
    when: str = ""  # RFC3339 time of the recorded decision (audit items)
    recorded: Outcome | None = None
    current: Outcome | None = None
    proposed: Outcome | None = None
    proposed_messages: dict[str, str] = field(default_factory=dict)  # control -> message

    @property
    def change(self) -> str:
        if self.status != REPLAYED or self.current is None or self.proposed is None:
            return ""
        before, after = self.current, self.proposed
        if before.allowed and not after.allowed:
            return ALLOW_TO_DENY
        if not before.allowed and after.allowed:
            return DENY_TO_ALLOW
        if not after.allowed and set(before.denied) != set(after.denied):
            return REASONS_CHANGED
        if set(after.warned) - set(before.warned):
            return NEW_WARNING
        if set(before.warned) - set(after.warned):
            return WARNING_DROPPED
        return UNCHANGED

    @property
    def new_denials(self) -> list[str]:
        if self.current is None or self.proposed is None:
            return []
        return sorted(set(self.proposed.denied) - set(self.current.denied))

    @property
    def lifted_denials(self) -> list[str]:
        if self.current is None or self.proposed is None:
            return []
        return sorted(set(self.current.denied) - set(self.proposed.denied))

    @property
    def new_warnings(self) -> list[str]:
        if self.current is None or self.proposed is None:
            return []
        return sorted(set(self.proposed.warned) - set(self.current.warned))

    @property
    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("recorded", "current", "proposed"):
            value = getattr(self, key)
            out[key] = value.to_dict() if value is not None else None
        out["change"] = self.change
        out["new_denials"] = self.new_denials
        out["lifted_denials"] = self.lifted_denials
        out["new_warnings"] = self.new_warnings
        return out
