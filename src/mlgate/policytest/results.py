"""What a policy-test run produced: one result per YAML case or Rego ``test_`` rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaseResult:
    name: str
    file: str
    line: int
    kind: str  # "case" or "rego"
    status: str  # "pass", "fail", "skip"
    problems: list[str] = field(default_factory=list)
    actual: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "status": self.status,
            "problems": list(self.problems),
            "actual": self.actual,
            "seconds": round(self.seconds, 6),
        }


def totals(results: list[CaseResult]) -> dict[str, int]:
    return {
        "total": len(results),
        "passed": sum(r.status == "pass" for r in results),
        "failed": sum(r.status == "fail" for r in results),
        "skipped": sum(r.status == "skip" for r in results),
        "cases": sum(r.kind == "case" for r in results),
        "rego": sum(r.kind == "rego" for r in results),
    }
