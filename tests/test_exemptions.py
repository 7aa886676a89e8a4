"""Exemptions: scoped, time-boxed, always reported; expired ones warn and stop applying."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from error_codes import problem_codes
from mlgate.engine import Engine
from mlgate.errors import MlgateError
from mlgate.policyset import load_policy_set
from mlgate.policytest.cases import Suite, set_path, unset_path
from mlgate.timeutil import to_ns

SUITE = Suite(REPO / "policy-tests")

HEADER = "apiVersion: mlgate.io/v1\nkind: Exemptions\nexemptions:\n"

# Waives the SBOM requirement for the credit model in production until the end of 2027-02-28.
SBOM_EXEMPTION = """\
  - id: EX-TEST-1
    control: SC-SBOM
    scope: {namespace: lending-prod, model: credit-risk-scorer, environment: production}
    reason: SBOM generation for the LightGBM runtime image is being fixed upstream.
    approver: ciso@bank.example
    ticket: SEC-2001
    expires: "2027-02-28"
"""


def without_sbom(**changes: object) -> dict:
    doc = SUITE.base("compliant-high-production", "test")
    unset_path(doc, "card.governance.sbom_ref")
    for path, value in changes.items():
        set_path(doc, path.replace("__", "."), value)
    return doc


@pytest.fixture
def exempted(policy_copy: Path) -> Engine:
    (policy_copy / "exemptions.yaml").write_text(HEADER + SBOM_EXEMPTION)
    return Engine.from_path(policy_copy)


def test_an_active_exemption_waives_the_denial_and_is_reported(exempted: Engine) -> None:
    decision = exempted.evaluate(without_sbom())
    assert decision.allowed is True
    assert "SC-SBOM" not in {v.control for v in decision.violations + decision.warnings}
    [applied] = decision.exemptions
    assert applied.id == "EX-TEST-1" and applied.control == "SC-SBOM"
    assert applied.approver == "ciso@bank.example" and applied.expires == "2027-02-28"
    assert "software bill of materials" in applied.message  # the waived finding is kept
    assert decision.to_dict()["exemptions"][0]["reason"].startswith("SBOM generation")


@pytest.mark.parametrize(
    ("now", "applies"),
    [
        ("2027-02-28T23:59:59Z", True),  # the expiry day counts in full (UTC)
        ("2027-03-01T00:00:00Z", False),
    ],
)
def test_expiry_is_the_end_of_the_day(exempted: Engine, now: str, applies: bool) -> None:
    doc = without_sbom()
    doc["context"]["now_ns"] = to_ns(now)
    # Keep the time-based gates quiet: this test is about the exemption only.
    doc["evidence"]["timeline"]["last_review_ns"] = to_ns("2027-02-01")
    decision = exempted.evaluate(doc)
    assert bool(decision.exemptions) is applies
    denied = {v.control for v in decision.violations}
    assert ("SC-SBOM" in denied) is not applies


def test_an_expired_exemption_warns_and_the_violation_returns(exempted: Engine) -> None:
    doc = without_sbom()
    doc["context"]["now_ns"] = to_ns("2027-03-02T08:00:00Z")
    doc["evidence"]["timeline"]["last_review_ns"] = to_ns("2027-02-01")
    decision = exempted.evaluate(doc)
    assert decision.allowed is False
    assert "SC-SBOM" in {v.control for v in decision.violations}
    [warning] = [w for w in decision.warnings if w.control == "SC-SBOM"]
    assert "EX-TEST-1" in warning.message and "expired on 2027-02-28" in warning.message
    assert decision.exemptions == []


@pytest.mark.parametrize(
    "changes",
    [
        {"request__namespace": "lending-staging-copy"},
        {"model__name": "credit-risk-scorer-v4"},
        {"context__environment": "staging"},
    ],
)
def test_every_scope_key_must_match(exempted: Engine, changes: dict) -> None:
    decision = exempted.evaluate(without_sbom(**changes))
    assert decision.exemptions == []
    reported = {v.control for v in decision.violations + decision.warnings}
    assert "SC-SBOM" in reported


def test_an_exemption_waives_only_its_control(exempted: Engine) -> None:
    doc = without_sbom()
    unset_path(doc, "card.governance.qms_change_ref")
    decision = exempted.evaluate(doc)
    assert decision.allowed is False
    assert {v.control for v in decision.violations} == {"AIA-17-QMS-CHANGE"}
    assert [e.control for e in decision.exemptions] == ["SC-SBOM"]


def test_an_exemption_scoped_to_a_namespace_only(policy_copy: Path) -> None:
    (policy_copy / "exemptions.yaml").write_text(
        HEADER
        + """\
  - id: EX-NS
    control: AIA-17-QMS-CHANGE
    scope: {namespace: lending-prod}
    reason: QMS migration to the new tool; change records are kept in the old system.
    approver: head-of-quality@bank.example
    expires: "2027-01-31T12:00:00Z"
"""
    )
    doc = SUITE.base("compliant-high-production", "test")
    unset_path(doc, "card.governance.qms_change_ref")
    decision = Engine.from_path(policy_copy).evaluate(doc)
    assert decision.allowed is True
    assert [e.id for e in decision.exemptions] == ["EX-NS"]


@pytest.mark.parametrize(
    ("entry", "code", "line"),
    [
        (SBOM_EXEMPTION.replace("SC-SBOM", "SC-NOPE"), "unknown-reference", 5),  # control:
        (SBOM_EXEMPTION + SBOM_EXEMPTION, "duplicate", 11),  # the second "- id:"
        (
            SBOM_EXEMPTION.replace(
                "SBOM generation for the LightGBM runtime image is being fixed upstream.", "ok"
            ),
            "invalid",
            7,  # reason: too short to explain anything
        ),
        (SBOM_EXEMPTION.replace("    approver: ciso@bank.example\n", ""), "missing", 4),
        (
            SBOM_EXEMPTION.replace(
                "{namespace: lending-prod, model: credit-risk-scorer, environment: production}",
                "{}",
            ),
            "invalid",
            6,  # scope:
        ),
        (SBOM_EXEMPTION.replace('"2027-02-28"', '"next spring"'), "time.not_rfc3339", 10),
    ],
)
def test_invalid_exemptions_are_rejected_with_file_and_line(
    policy_copy: Path, entry: str, code: str, line: int
) -> None:
    path = policy_copy / "exemptions.yaml"
    path.write_text(HEADER + entry)
    with pytest.raises(MlgateError) as info:
        load_policy_set(policy_copy)
    assert problem_codes(info.value) == [(code, f"{path}:{line}")]


def test_shipped_exemptions_do_not_touch_production() -> None:
    policy_set = load_policy_set(REPO / "policies")
    assert len(policy_set.exemptions) >= 2
    for exemption in policy_set.exemptions:
        assert exemption.namespace is not None or exemption.model is not None
        assert exemption.environment != "production"
        assert not (exemption.namespace or "").endswith("-prod")
    now = to_ns("2026-11-23T10:00:00Z")
    states = {e.id: e.expires_ns >= now for e in policy_set.exemptions}
    assert True in states.values() and False in states.values()  # one active, one expired


def test_a_renewed_exemption_wins_over_an_expired_one_listed_first(policy_copy: Path) -> None:
    expired = SBOM_EXEMPTION.replace("EX-TEST-1", "EX-OLD").replace('"2027-02-28"', '"2026-01-31"')
    (policy_copy / "exemptions.yaml").write_text(HEADER + expired + SBOM_EXEMPTION)
    decision = Engine.from_path(policy_copy).evaluate(
        without_sbom(context__now_ns=to_ns("2026-11-23T10:00:00Z"))
    )
    assert "SC-SBOM" not in decision.denied_controls
    assert [e.id for e in decision.exemptions] == ["EX-TEST-1"]
