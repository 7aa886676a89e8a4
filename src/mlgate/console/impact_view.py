"""The console's impact view: the audit log replayed under a proposed policy set.

Computed on first view and cached until the log grows, so a page view does not re-evaluate
thousands of decisions."""

from __future__ import annotations

import threading
from pathlib import Path

from mlgate.impact.compare import ImpactReport


class ImpactView:
    def __init__(self, audit_db: Path, current_dir: Path, proposed: str | None, since: str) -> None:
        self.audit_db, self.current_dir, self.proposed, self.since = (
            audit_db,
            current_dir,
            proposed,
            since,
        )
        self._lock = threading.Lock()
        self._cached: tuple[int, ImpactReport] | None = None

    def report(self, head: int) -> ImpactReport | None:
        if self.proposed is None:
            return None
        with self._lock:
            if self._cached is None or self._cached[0] != head:
                self._cached = (head, self._compute())
            return self._cached[1]

    def _compute(self) -> ImpactReport:
        from mlgate.audit.store import AuditStore
        from mlgate.cli.cmd_impact import parse_time
        from mlgate.engine import Engine
        from mlgate.impact import build_report
        from mlgate.impact.audit_replay import AuditReplayer
        from mlgate.impact.sources import load_source
        from mlgate.timeutil import rfc3339

        assert self.proposed is not None
        since = parse_time(self.since, "--impact-since") if self.since else None
        current_src = load_source(str(self.current_dir), reference_dir=self.current_dir)
        proposed_src = load_source(self.proposed, reference_dir=current_src.policy_set.root)
        current, proposed = Engine(current_src.policy_set), Engine(proposed_src.policy_set)
        store = AuditStore(self.audit_db, create=False)
        try:
            replayer = AuditReplayer(
                current,
                proposed,
                trust_changed=current_src.trust_fingerprint != proposed_src.trust_fingerprint,
            )
            items = list(replayer.replay(store, since_ns=since))
        finally:
            store.close()
            current.close()
            proposed.close()

        return build_report(
            items,
            current=current_src.describe(),
            proposed=proposed_src.describe(),
            window={"since": rfc3339(since) if since else None, "until": None},
            sources=[f"audit log {self.audit_db}"],
        )
