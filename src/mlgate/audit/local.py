"""Records decisions made outside the webhook (CI, the demo) the way the webhook does:
the masked decision plus its masked canonical inputs, so they can be reported and replayed."""

from __future__ import annotations

from pathlib import Path

from mlgate.audit.masking import Masker, load_or_create_key
from mlgate.audit.record import decision_record
from mlgate.audit.store import AuditStore
from mlgate.decision import Decision
from mlgate.subjects import Subject


def record_subjects(
    db: str | Path,
    engine: object,
    subjects: list[Subject],
    *,
    source: str = "manifest",
    ts_ns: int | None = None,
    mask: str = "hash",
) -> list[Decision]:
    """Evaluates each subject with ``engine`` (an ``Engine``) and appends its record."""
    path = Path(db)
    masker = Masker(mask, load_or_create_key(None, path))
    store = AuditStore(path)
    decisions: list[Decision] = []
    try:
        payloads = []
        for subject in subjects:
            # Card validation is kept in the input: the stored card has its emails masked.
            built = engine.build_inputs(subject, now_ns=ts_ns)  # type: ignore[attr-defined]
            inputs = [engine.with_card_evidence(doc) for doc in built]  # type: ignore[attr-defined]
            decision = engine.evaluate_all(inputs, subject.describe())  # type: ignore[attr-defined]
            decisions.append(decision)
            payloads.append(
                decision_record(
                    decision,
                    masker,
                    source=source,
                    operation=subject.info.operation,
                    username=subject.info.username,
                    groups=subject.info.groups,
                    ts_ns=ts_ns,
                    inputs=inputs,
                )
            )
        store.append(payloads)
    finally:
        store.close()
    return decisions
