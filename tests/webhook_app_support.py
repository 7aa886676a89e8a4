"""The webhook app in-process (FastAPI's TestClient) with a stub engine and a fake Kubernetes API.

Shared by the in-process webhook tests; `make_app` (conftest.py) builds apps from these and
closes them after the test.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from http_stub import HTTPStub, Reply, Request
from mlgate.audit import AuditStore
from mlgate.decide import BACKEND_UNAVAILABLE_CONTROL, EVAL_ERROR_CONTROL
from mlgate.decision import Decision, Violation
from mlgate.server.app import create_app
from mlgate.server.config import ServerConfig


class StubEngine:
    """Answers like an Engine: allowed, denied, broken or slow, as told."""

    revision = "sha256:stub"

    class backend:
        name = "stub"

    def __init__(self, mode: str = "allow", delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay
        self.subjects: list[Any] = []

    def evaluate_subject(self, subject: Any, **_: Any) -> Decision:
        self.subjects.append(subject)
        time.sleep(self.delay)
        violations, warnings = [], []
        if self.mode == "deny":
            violations = [_violation("TEST-DENY", "deny", "no good")]
        elif self.mode == "error":
            violations = [_violation(EVAL_ERROR_CONTROL, "deny", "rego-cpp evaluation failed")]
        elif self.mode == "unavailable":
            violations = [_violation(BACKEND_UNAVAILABLE_CONTROL, "deny", "OPA unreachable")]
        elif self.mode == "warn":
            warnings = [_violation(f"TEST-WARN-{i}", "warn", "w" * 300) for i in range(30)]
        return Decision(
            allowed=not violations,
            decision_id=f"d-{len(self.subjects)}",
            subject=subject.describe(),
            risk_tier="minimal",
            violations=violations,
            warnings=warnings,
            policy_revision=self.revision,
            backend="stub",
            dry_run=subject.info.dry_run,
        )


def _violation(control: str, enforcement: str, message: str) -> Violation:
    return Violation(
        control=control, severity="high", enforcement=enforcement, message=message,
        regulations=["Test Art. 1"], remediation="Do the right thing.", path="/model", title="t",
    )  # fmt: skip


def app_with(tmp_path: Path, engine: StubEngine | None, **config: Any) -> tuple[TestClient, Any]:
    settings = {
        "audit_db": str(tmp_path / "audit.db"),
        "reload_interval_s": 0,
        "eval_threads": 2,
        **config,
    }
    app = create_app(ServerConfig(**settings))
    client = TestClient(app)
    client.__enter__()  # runs the lifespan: policies loaded, pool warmed
    if engine is not None:
        app.webhook.reloader.engine = engine
    return client, app.webhook


def records(db: Path) -> list[dict[str, Any]]:
    store = AuditStore(db, create=False)
    try:
        return [r.body for r in store.records()]
    finally:
        store.close()


class FakeKubeAPI(HTTPStub):
    """GET /api/v1/namespaces/<ns> with a bearer token; can be switched off."""

    def __init__(self, labels: dict[str, dict[str, str]], token: str) -> None:
        self.labels, self.token, self.up = labels, token, True
        super().__init__(self._namespace)

    @property
    def calls(self) -> int:
        return sum(self.hits.values())

    def _namespace(self, request: Request) -> Reply:
        name = request.path.rsplit("/", 1)[-1]
        if not self.up:
            return Reply(503, {"kind": "Status", "code": 503})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply(401, {"kind": "Status", "code": 401})
        if name not in self.labels:
            return Reply(404, {"kind": "Status", "code": 404})
        return Reply(
            200, {"kind": "Namespace", "metadata": {"name": name, "labels": self.labels[name]}}
        )
