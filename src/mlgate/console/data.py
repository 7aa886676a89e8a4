"""Reads for the console: the decision log (filtered), the inventory, one record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.audit.store import AuditStore
from mlgate.report.inventory import ModelEntry, from_audit

OUTCOMES = ("any", "allowed", "denied", "warned")
MAX_ROWS = 500


@dataclass(frozen=True)
class DecisionFilter:
    namespace: str = ""
    control: str = ""
    outcome: str = "any"
    since_ns: int | None = None
    until_ns: int | None = None

    def matches(self, body: dict[str, Any]) -> bool:
        if self.namespace and body.get("namespace") != self.namespace:
            return False
        denied, warned = body.get("controls") or [], body.get("warned") or []
        if self.control and self.control not in denied and self.control not in warned:
            return False
        if self.outcome == "allowed" and not body.get("allowed"):
            return False
        if self.outcome == "denied" and body.get("allowed"):
            return False
        return self.outcome != "warned" or bool(warned)


class ConsoleData:
    def __init__(self, audit_db: Path) -> None:
        self.audit_db = audit_db

    def _store(self) -> AuditStore:
        return AuditStore(self.audit_db, create=False)

    def decisions(self, flt: DecisionFilter) -> tuple[list[dict[str, Any]], bool]:
        """Matching decision records, newest first; True when more than MAX_ROWS matched."""
        store = self._store()
        try:
            rows = []
            for record in store.records(since_ns=flt.since_ns, types=("decision",)):
                if flt.until_ns is not None and record.ts_ns > flt.until_ns:
                    break
                if flt.matches(record.body):
                    rows.append(record.body | {"seq": record.seq})
        finally:
            store.close()
        rows.reverse()
        return rows[:MAX_ROWS], len(rows) > MAX_ROWS

    def facets(self) -> tuple[list[str], list[str]]:
        """Namespaces and controls that occur in the log (for the filter menus)."""
        namespaces: set[str] = set()
        controls: set[str] = set()
        store = self._store()
        try:
            for record in store.records(types=("decision",)):
                namespaces.add(str(record.body.get("namespace", "")))
                controls.update(record.body.get("controls") or [])
                controls.update(record.body.get("warned") or [])
        finally:
            store.close()
        return sorted(n for n in namespaces if n), sorted(controls)

    def record(self, seq: int) -> dict[str, Any] | None:
        store = self._store()
        try:
            record = store.get(seq)
        finally:
            store.close()
        if record is None or record.type != "decision":
            return None
        return record.body | {"seq": seq}

    def models(self) -> list[ModelEntry]:
        store = self._store()
        try:
            return from_audit(store)[0]
        finally:
            store.close()

    def head(self) -> int:
        store = self._store()
        try:
            return store.count()
        finally:
            store.close()
