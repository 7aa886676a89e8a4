"""The bundled examples decide as their comments say (they are what `make demo` shows)."""

from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES
from mlgate.cli.main import main


def check(capsys, path, *extra: str) -> dict[str, dict]:
    code = main(["check", str(path), "--output", "json", *extra])
    report = json.loads(capsys.readouterr().out)
    assert code == (1 if report["summary"]["denied"] else 0)
    return {r["name"]: r["decision"] for r in report["results"]}


@pytest.mark.parametrize(
    ("name", "allowed", "must_deny"),
    [
        ("credit-scorer", True, set()),
        ("credit-scorer-hotfix", False, {"SC-SIGNED", "TIER-ATTESTED", "ACCESS-DEPLOYER"}),
        ("credit-scorer-swapped", False, {"SC-DIGEST-MATCH", "SC-ATTESTED"}),
        ("fraud-detector", True, set()),
    ],
)
def test_manifests(capsys, name: str, allowed: bool, must_deny: set[str]) -> None:
    decision = check(capsys, EXAMPLES / "manifests")[name]
    assert decision["allowed"] is allowed, decision["violations"][:3]
    assert must_deny <= {v["control"] for v in decision["violations"]}


def test_kubernetes_objects(capsys) -> None:
    decisions = check(
        capsys, EXAMPLES / "k8s", "--user", "release-bot", "--group", "mlops-release-managers"
    )
    assert decisions["credit-scorer"]["allowed"] is True
    assert decisions["credit-scorer"]["risk_tier"] == "high"
    for name in ("support-chatbot", "churn"):
        denied = {v["control"] for v in decisions[name]["violations"]}
        assert {"SC-SIGNED", "SC-DIGEST-PINNED"} <= denied
    # The copied-annotation attack `make demo` shows (issue 9).
    shadow = decisions["credit-scorer-shadow"]
    assert shadow["allowed"] is False
    assert shadow["violations"][0]["control"] == "SC-URI-BOUND"
    assert (
        "expected s3://scratch-bucket/credit-scorer-retrained" in shadow["violations"][0]["message"]
    )


def test_signed_isvc_in_production_needs_a_release_manager(capsys) -> None:
    decisions = check(capsys, EXAMPLES / "k8s" / "credit-scorer-isvc.yaml", "--user", "mallory")
    assert decisions["credit-scorer"]["allowed"] is False
    assert "ACCESS-DEPLOYER" in {v["control"] for v in decisions["credit-scorer"]["violations"]}
