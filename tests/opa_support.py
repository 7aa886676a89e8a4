"""Helpers for the tests that need the real OPA (``make opa`` builds it into ~/.cache/mlgate/bin/opa).

The shared engines are created once per test process (pytest-xdist runs one per worker), so
a test session starts one OPA server for all differential comparisons.
"""

from __future__ import annotations

import atexit
import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlgate.policyset import PolicySet, load_policy_set
from mlgate.rego.opaprocess import find_opa_binary

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
POLICY_TESTS = REPO / "policy-tests"
OPA = find_opa_binary()

requires_opa = [
    pytest.mark.opa,
    pytest.mark.skipif(
        OPA is None,
        reason="OPA binary not found: ~/.cache/mlgate/bin/opa is missing; run `make opa` (or set MLGATE_OPA)",
    ),
]


@functools.cache
def policy_set() -> PolicySet:
    return load_policy_set(POLICIES)


@functools.cache
def shared_engines() -> tuple[Any, Any]:
    """(embedded Engine, OPA Engine) on the shipped policies; one OPA server per process."""
    from mlgate import Engine

    embedded = Engine(policy_set(), "embedded")
    opa = Engine(policy_set(), "opa", opa_binary=OPA, timeout=10.0)
    atexit.register(opa.close)
    return embedded, opa


def opa_eval(query: str, *, modules: dict[str, str] | None = None, tmp: Path) -> Any:
    """The binding of ``x`` in ``query`` (``x := ...``) by ``opa eval``, strict errors on."""
    args = [str(OPA), "eval", "--strict-builtin-errors", "--format", "json"]
    for name, source in (modules or {}).items():
        path = tmp / name
        path.write_text(source, encoding="utf-8")
        args += ["--data", str(path)]
    out = subprocess.run([*args, query], capture_output=True, text=True, timeout=60, check=False)
    body = json.loads(out.stdout)
    if "errors" in body:
        raise AssertionError(f"opa eval failed: {body['errors']}")
    return body["result"][0]["bindings"]["x"]


def decision_key(decision: Any) -> dict[str, Any]:
    """What the two backends must agree on."""
    return {
        "allowed": decision.allowed,
        "violations": sorted({v.control for v in decision.violations}),
        "warnings": sorted({v.control for v in decision.warnings}),
        "audits": sorted({v.control for v in decision.audits}),
        "risk_tier": decision.risk_tier,
    }
