"""Documents `mlgate check` did not evaluate, and why: nothing is skipped silently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Skipped:
    file: str
    document: int
    line: int
    kind: str
    name: str
    reason: str
    path: str = ""  # JSON path inside the document (a `kind: List` item)

    @property
    def label(self) -> str:
        return f"{self.kind or '?'}/{self.name or '?'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "document": self.document,
            "line": self.line,
            "path": self.path,
            "kind": self.kind,
            "name": self.name,
            "reason": self.reason,
        }


def skipped_entry(doc: Any, file: str, document: int, line: int, path: str) -> Skipped:
    """A skipped document, with the reason the subject adapters give."""
    from mlgate.subjects import skip_reason

    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    return Skipped(
        file=file,
        document=document,
        line=line,
        kind=str(doc.get("kind", "")),
        name=str(meta.get("name", "")),
        reason=skip_reason(doc),
        path=path,
    )


def totals_line(evaluated: int, skipped: int) -> str:
    return f"{evaluated} evaluated, {skipped} skipped"


def table_lines(skipped: tuple[Skipped, ...] | list[Skipped], dim: str, reset: str) -> list[str]:
    return [
        f"{dim}SKIPPED  {s.label}  ({s.file}:{s.line}{' ' + s.path if s.path else ''}): "
        f"{s.reason}{reset}"
        for s in skipped
    ]


def sarif_results(skipped: tuple[Skipped, ...] | list[Skipped]) -> list[dict[str, Any]]:
    return [
        {
            "ruleId": "mlgate/skipped",
            "level": "none",
            "kind": "notApplicable",
            "message": {"text": f"{s.label} was not evaluated: {s.reason}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": s.file},
                        "region": {"startLine": max(s.line, 1)},
                    }
                }
            ],
        }
        for s in skipped
    ]


SARIF_RULE = {
    "id": "mlgate/skipped",
    "name": "skipped",
    "shortDescription": {"text": "Document is not a model deployment and was not evaluated"},
    "help": {"text": "Informational: the reason names why no model was found in the document."},
}
