"""`mlgate gate --risk-tier`: the evidence is decided by the shipped Rego promotion gates."""

from __future__ import annotations

import json

from conftest import EXAMPLES
from mlgate.cli.main import main

DATA = EXAMPLES / "data"


def gate(capsys, current: str, *extra: str) -> tuple[int, dict]:
    code = main(
        [
            "gate",
            "--reference", str(DATA / "reference.csv"),
            "--current", str(DATA / current),
            "--label", "label", "--prediction", "prediction", "--score", "score",
            "--group", "sex", "--period", "month",
            "--bootstrap", "100", "--output", "json", *extra,
        ]
    )  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def test_drifted_model_is_denied_promotion_with_features_named(capsys) -> None:
    code, report = gate(capsys, "current-drifted.csv", "--risk-tier", "high")
    decision = report["decision"]
    assert code == 1 and decision["allowed"] is False
    drift = [v for v in decision["violations"] if v["control"] == "GATE-DRIFT"]
    assert drift, decision["violations"]
    for feature in ("age", "income", "region"):
        assert feature in drift[0]["message"]
    # Only evidence-based gates are judged here, not approvals or signatures.
    assert {v["control"] for v in decision["violations"]} <= {
        "GATE-METRICS", "GATE-DRIFT", "GATE-FAIRNESS", "GATE-STABILITY"
    }  # fmt: skip


def test_stable_model_passes_the_gates(capsys) -> None:
    code, report = gate(capsys, "current-stable.csv", "--risk-tier", "high")
    assert code == 0 and report["decision"]["allowed"] is True
    assert report["evidence"]["drift"]["drifted_features"] == []


def test_scope_and_enforcement_come_from_the_catalogue(capsys) -> None:
    # controls.yaml: GATE-DRIFT applies to high/limited in production (deny) and staging (warn);
    # not to minimal-risk models, and not in development.
    code, report = gate(
        capsys, "current-drifted.csv", "--risk-tier", "limited", "--environment", "staging"
    )
    decision = report["decision"]
    assert code == 0 and decision["allowed"] is True
    assert "GATE-DRIFT" in {v["control"] for v in decision["warnings"]}
    code, report = gate(capsys, "current-drifted.csv", "--risk-tier", "minimal")
    assert "GATE-DRIFT" not in {v["control"] for v in report["decision"]["violations"]}


def _args(risk_tier: str | None):
    import argparse

    return argparse.Namespace(
        model_name="m", environment="production", risk_tier=risk_tier, policies=None
    )


def test_a_gate_that_could_not_decide_does_not_pass() -> None:
    # Evidence the input schema refuses is mlgate's own fail-closed denial, not an evidence
    # finding: it has no evidence path, and the gate must not filter it away (it did).
    from mlgate.cli.cmd_gate import promotion_decision

    for tier in (None, "high"):
        decision = promotion_decision(_args(tier), {"drift": "garbage"})
        assert decision.allowed is False, tier
        assert [v.control for v in decision.violations] == ["MLGATE-INPUT-INVALID"], tier
