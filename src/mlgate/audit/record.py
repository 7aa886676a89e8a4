"""What one decision looks like in the log: the searchable facts plus the masked decision."""

from __future__ import annotations

import time
from typing import Any

from mlgate.audit.masking import Masker
from mlgate.audit.replay_inputs import PAYLOAD_KEY, mask_inputs
from mlgate.decision import Decision
from mlgate.timeutil import rfc3339


def decision_record(
    decision: Decision,
    masker: Masker,
    *,
    uid: str = "",
    source: str = "admission",
    operation: str = "",
    username: str = "",
    groups: tuple[str, ...] | list[str] = (),
    duration_ms: float | None = None,
    fail_open: bool = False,
    ts_ns: int | None = None,
    inputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``inputs``: the canonical inputs the decision was made on, kept masked for replay."""
    ts_ns = time.time_ns() if ts_ns is None else ts_ns
    subject = decision.subject
    record = {
        "type": "decision",
        "ts_ns": ts_ns,
        "ts": rfc3339(ts_ns),
        "decision_id": decision.decision_id,
        "uid": uid,
        "source": source,
        "operation": operation,
        "kind": str(subject.get("kind", "")),
        "namespace": str(subject.get("namespace", "")),
        "name": str(subject.get("name", "")),
        "user": masker.user(username),
        "groups": list(groups),
        "allowed": decision.allowed,
        "dry_run": decision.dry_run,
        "fail_open": fail_open,
        "controls": decision.denied_controls,
        "warned": sorted({v.control for v in decision.warnings}),
        "exemptions": sorted({e.id for e in decision.exemptions}),
        "risk_tier": decision.risk_tier,
        "policy_revision": decision.policy_revision,
        "duration_ms": round(duration_ms, 3) if duration_ms is not None else None,
        "decision": masker.scrub(decision.to_dict()),
    }
    if inputs is not None:
        record[PAYLOAD_KEY] = mask_inputs(inputs, masker)
    return record
