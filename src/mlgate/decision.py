"""The decision contract (schemas/decision.schema.json): what every front door returns."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    control: str
    severity: str
    enforcement: str
    message: str
    regulations: list[str]
    remediation: str
    path: str = ""
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AppliedExemption:
    id: str
    control: str
    reason: str
    approver: str
    expires: str
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Decision:
    allowed: bool
    decision_id: str
    subject: dict[str, Any]
    risk_tier: str
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    audits: list[Violation] = field(default_factory=list)
    exemptions: list[AppliedExemption] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    policy_revision: str = ""
    backend: str = "wasm"
    evaluated_at: str = ""
    dry_run: bool = False

    @property
    def denied_controls(self) -> list[str]:
        return sorted({v.control for v in self.violations})

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "decision_id": self.decision_id,
            "subject": self.subject,
            "risk_tier": self.risk_tier,
            "violations": [v.to_dict() for v in self.violations],
            "warnings": [v.to_dict() for v in self.warnings],
            "audits": [v.to_dict() for v in self.audits],
            "exemptions": [e.to_dict() for e in self.exemptions],
            "notes": list(self.notes),
            "policy_revision": self.policy_revision,
            "backend": self.backend,
            "evaluated_at": self.evaluated_at,
            "dry_run": self.dry_run,
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=indent is not None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(
            allowed=bool(data["allowed"]),
            decision_id=data["decision_id"],
            subject=data.get("subject", {}),
            risk_tier=data.get("risk_tier", "unknown"),
            violations=[Violation(**v) for v in data.get("violations", [])],
            warnings=[Violation(**v) for v in data.get("warnings", [])],
            audits=[Violation(**v) for v in data.get("audits", [])],
            exemptions=[AppliedExemption(**e) for e in data.get("exemptions", [])],
            notes=list(data.get("notes", [])),
            policy_revision=data.get("policy_revision", ""),
            backend=data.get("backend", "wasm"),
            evaluated_at=data.get("evaluated_at", ""),
            dry_run=bool(data.get("dry_run", False)),
        )

    @classmethod
    def from_json(cls, text: str) -> Decision:
        return cls.from_dict(json.loads(text))
