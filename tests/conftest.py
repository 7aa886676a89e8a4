"""Shared fixtures. Paths are resolved from this file so tests run from any directory."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
EXAMPLES = REPO / "examples"
VECTORS = Path(os.environ.get("MLGATE_VECTORS", REPO.parent / "shared" / "vectors"))
NOW_NS = 1_795_000_000_000_000_000  # 2026-11-18, outside every shipped freeze window


def minimal_input(**overrides: Any) -> dict[str, Any]:
    """A schema-valid canonical input for an unsigned model in production."""
    absent = {"present": False, "verified": False, "trusted": False}
    doc: dict[str, Any] = {
        "source": "test",
        "request": {
            "operation": "CREATE",
            "kind": "InferenceService",
            "name": "demo",
            "namespace": "ml-prod",
            "user": {"username": "alice", "groups": ["ml-deployers"]},
        },
        "context": {"environment": "production", "now_ns": NOW_NS},
        "model": {"name": "demo", "uri": "s3://bucket/models/demo"},
        "card": {},
        "card_source": "none",
        "signature": dict(absent),
        "attestation": dict(absent),
        "evidence": {},
    }
    for key, value in overrides.items():
        doc[key] = value
    return copy.deepcopy(doc)


@pytest.fixture(scope="session")
def engine():
    from mlgate.engine import Engine

    eng = Engine.from_path(POLICIES)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def shipped_cases() -> list[Any]:
    """The cases of the shipped suite (policy-tests/), loaded once per session."""
    from mlgate.policytest.cases import Suite

    return Suite(REPO / "policy-tests").load()


@pytest.fixture(scope="session")
def shipped_results(engine: Any, shipped_cases: list[Any]) -> list[tuple[Any, Any]]:
    """``(case, decision)`` for every shipped case on the embedded engine: the suite runs once
    per session, and every test about the shipped suite reads these decisions."""
    return [(case, engine.evaluate(case.document)) for case in shipped_cases]


@pytest.fixture(scope="session")
def shipped_rego_results(engine: Any) -> list[Any]:
    """The shipped Rego ``test_`` rules, run once per session on the embedded engine."""
    from mlgate.policytest.runner import run_rego_tests

    return run_rego_tests(engine.policy_set)


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped policy directory, safe to break."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


@pytest.fixture
def make_app(tmp_path: Path) -> Any:
    """``make_app(engine=None, **config) -> (client, webhook)``: the webhook app in-process
    (webhook_app_support.app_with), its audit log in ``tmp_path``; every app is closed after the
    test."""
    from webhook_app_support import app_with

    clients: list[Any] = []

    def make(engine: Any = None, **config: Any) -> tuple[Any, Any]:
        client, webhook = app_with(tmp_path, engine, **config)
        clients.append(client)
        return client, webhook

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def credit_digest() -> str:
    """The digest of the example credit scorer (examples/models/credit-scorer)."""
    from mlgate.supplychain.modeldir import model_digest
    from webhook_support import CREDIT_SCORER

    return model_digest(CREDIT_SCORER)


@pytest.fixture(scope="session")
def credit_evidence(credit_digest: str) -> dict[str, str]:
    """The approved credit scorer's annotations (digest, signature, attestation)."""
    from webhook_support import credit_scorer_evidence

    return credit_scorer_evidence(credit_digest)


@pytest.fixture(scope="session")
def shipped_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real `mlgate serve` over TLS with the shipped policies and default options, shared by
    the tests that only send reviews to it (each worker starts one). Tests that count records,
    metrics or log lines start their own."""
    from webhook_support import Server, issue_certs

    work = tmp_path_factory.mktemp("shipped-server")
    srv = Server(work, issue_certs(work / "certs")).start()
    yield srv
    srv.stop()
