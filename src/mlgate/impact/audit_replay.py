"""Replays the decisions recorded in the audit log under two policy sets.

Replay is honest: it evaluates the exact stored (masked) inputs, as of the time of the
original decision (``context.now_ns`` is part of the input), and says so, with a reason code
(``impact.model.REASON_CODES``), when it cannot:
- a request refused before any policy ran (a work limit, an invalid object, a full queue) or
  admitted without evaluation (a housekeeping UPDATE): no policy input exists, and no policy
  change alters its outcome;
- a recorded system failure (timeout, evaluation or log error, fail-open) rather than a policy
  result;
- no stored input (recorded before inputs were kept, or past the inputs' retention);
- a stored input that does not match the digest in the hash-chained record;
- signature or attestation evidence when the proposed set changes the trust policy (it was
  verified under the old one; the log keeps facts, not a re-verification);
- a replay under the recording revision that disagrees with what was recorded;
- a result that depends on values the log keeps only masked (personal data): found by
  re-evaluating with those values replaced, not guessed.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from mlgate.audit.replay_inputs import EMAILS, MASKED_EMAIL
from mlgate.audit.store import AuditStore, StoredRecord
from mlgate.decide import FAILED_CONTROLS, REFUSED_CONTROLS
from mlgate.engine import Engine
from mlgate.impact.model import (
    INPUT_TAMPERED,
    MASKED_DEPENDENCE,
    NO_DECISION,
    NO_STORED_INPUT,
    NOT_EVALUATED,
    NOT_REPRODUCIBLE,
    REFUSED,
    REVISION_MISMATCH,
    SYSTEM_FAILURE,
    TRUST_CHANGED,
    Outcome,
    ReplayItem,
)


def _set_pointer(doc: Any, pointer: str, value: Any) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
    target = doc
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def _probe(inputs: list[dict[str, Any]], masked: list[str]) -> list[dict[str, Any]]:
    """The inputs with every masked value replaced by a distinct stand-in: masked emails by
    one stand-in per distinct token (equal stays equal), the rest at their pointers."""
    if EMAILS in masked:
        tokens: dict[str, str] = {}

        def stand_in(match: re.Match[str]) -> str:
            return tokens.setdefault(match.group(0), f"probe{len(tokens)}@replay.invalid")

        probed: list[dict[str, Any]] = json.loads(MASKED_EMAIL.sub(stand_in, json.dumps(inputs)))
    else:
        probed = copy.deepcopy(inputs)
    for i, pointer in enumerate(p for p in masked if p != EMAILS):
        try:
            _set_pointer(probed, pointer, f"mlgate-replay-probe-{i}")
        except (KeyError, IndexError, ValueError, TypeError):
            continue
    return probed


def _item(record: StoredRecord) -> ReplayItem:
    body = record.body
    decision = body.get("decision") or {}
    subject = decision.get("subject") or {}
    return ReplayItem(
        origin="audit",
        ref=f"audit #{record.seq}",
        kind=str(body.get("kind") or subject.get("kind", "")),
        namespace=str(body.get("namespace") or subject.get("namespace", "")),
        name=str(body.get("name") or subject.get("name", "")),
        models=[],
        environment=str(subject.get("environment", "")),
        when=str(body.get("ts", "")),
        recorded=Outcome.of_dict(decision) if decision else None,
    )


def _not_reproducible(item: ReplayItem, code: str, reason: str) -> ReplayItem:
    item.status, item.reason_code, item.reason = NOT_REPRODUCIBLE, code, reason
    return item


def _unevaluated(item: ReplayItem, record: StoredRecord) -> ReplayItem | None:
    """The item, marked, when the record holds no policy result to replay."""
    recorded = item.recorded
    if recorded is None:
        return _not_reproducible(item, NO_DECISION, "the record holds no decision")
    if record.body.get("fail_open") or any(c in FAILED_CONTROLS for c in recorded.denied):
        return _not_reproducible(
            item,
            SYSTEM_FAILURE,
            "recorded a system failure (error, timeout or fail-open), not a policy result",
        )
    refused = sorted(c for c in recorded.denied if c in REFUSED_CONTROLS)
    if refused:
        return _not_reproducible(
            item,
            REFUSED,
            f"refused before any policy ran ({', '.join(refused)}): there is no policy input, "
            "and no policy change alters the refusal",
        )
    if record.body.get("evaluated") is False:
        return _not_reproducible(
            item,
            NOT_EVALUATED,
            "admitted without evaluation (an UPDATE that changed no model-bearing field)",
        )
    return None


class AuditReplayer:
    def __init__(self, current: Engine, proposed: Engine, *, trust_changed: bool) -> None:
        self.current, self.proposed = current, proposed
        self.trust_changed = trust_changed

    def replay(
        self, store: AuditStore, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> Iterator[ReplayItem]:
        for record in store.records(since_ns=since_ns, types=("decision",)):
            if until_ns is not None and record.ts_ns > until_ns:
                break
            yield self.replay_one(store, record)

    def replay_one(self, store: AuditStore, record: StoredRecord) -> ReplayItem:
        item = _item(record)
        unevaluated = _unevaluated(item, record)
        if unevaluated is not None:
            return unevaluated
        recorded = item.recorded
        assert recorded is not None
        stored = store.stored_inputs(record.seq)
        if stored is None:
            return _not_reproducible(
                item,
                NO_STORED_INPUT,
                "no stored input: recorded before inputs were kept, or deleted by the inputs' "
                "retention bound",
            )
        if stored.digest != store.chained_input_digest(record, stored):
            return _not_reproducible(
                item,
                INPUT_TAMPERED,
                "the stored input does not match the digest in the hash-chained record",
            )
        item.models = sorted({str(doc.get("model", {}).get("name", "")) for doc in stored.inputs})
        subject = dict(record.body.get("decision", {}).get("subject") or {})
        item.environment = item.environment or str(
            stored.inputs[0].get("context", {}).get("environment", "") if stored.inputs else ""
        )
        current = self.current.evaluate_all(stored.inputs, subject)
        if (
            record.body.get("policy_revision") == self.current.revision
            and Outcome.of(current) != recorded
        ):
            return _not_reproducible(
                item,
                REVISION_MISMATCH,
                "replaying under the recording policy revision does not give the recorded decision",
            )
        if self.trust_changed and _uses_verified_evidence(stored.inputs):
            return _not_reproducible(
                item,
                TRUST_CHANGED,
                "the proposed set changes trust.yaml; signature and attestation facts in the "
                "log were verified under the current trust policy and are not re-verified",
            )
        proposed = self.proposed.evaluate_all(stored.inputs, subject)
        if stored.masked:
            probed = _probe(stored.inputs, stored.masked)
            if Outcome.of(self.current.evaluate_all(probed, subject)) != Outcome.of(
                current
            ) or Outcome.of(self.proposed.evaluate_all(probed, subject)) != Outcome.of(proposed):
                return _not_reproducible(
                    item,
                    MASKED_DEPENDENCE,
                    "the result depends on personal data the log keeps only masked ("
                    + ", ".join(stored.masked[:3])
                    + ")",
                )
        item.current, item.proposed = Outcome.of(current), Outcome.of(proposed)
        item.proposed_messages = {v.control: v.message for v in proposed.violations}
        return item


def _uses_verified_evidence(inputs: list[dict[str, Any]]) -> bool:
    return any(
        doc.get(key, {}).get("present") for doc in inputs for key in ("signature", "attestation")
    )
