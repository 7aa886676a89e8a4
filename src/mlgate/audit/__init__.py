"""The decision log: append-only, hash-chained, durable, masked and bounded (DESIGN.md 6).

May import: ``mlgate.decision``, ``mlgate.errors``, ``mlgate.subjects`` (masking rules) and
``mlgate.timeutil``; never the engine or the server.
"""

from mlgate.audit.masking import Masker, load_or_create_key
from mlgate.audit.record import decision_record
from mlgate.audit.store import AuditStore, StoredRecord, VerifyResult
from mlgate.audit.writer import AuditWriter

__all__ = [
    "AuditStore",
    "AuditWriter",
    "Masker",
    "StoredRecord",
    "VerifyResult",
    "decision_record",
    "load_or_create_key",
]
