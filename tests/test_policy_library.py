"""The shipped policy library: coverage of the catalogue by policy tests, the decision
contract, catalogue/Rego consistency and agreement between the embedded engine and OPA."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

import jsonschema
import pytest

from conftest import POLICIES, REPO
from mlgate.cli.cmd_controls import render_markdown
from mlgate.cli.cmd_policy import cross_check, rego_references
from mlgate.engine import Engine
from mlgate.policyset import load_policy_set
from mlgate.policytest.cases import Case, Suite
from mlgate.policytest.expect import check_expectation
from mlgate.timeutil import to_ns

SUITE = REPO / "policy-tests"
DECISION_SCHEMA = json.loads((REPO / "schemas" / "decision.schema.json").read_text())
GROUPS = {"risk-tiering", "high-risk", "gdpr", "supply-chain", "promotion", "access", "schema"}
REGULATION = re.compile(
    r"^(EU AI Act (Art\. \d+(\(\d+\))?(\([a-z]\))?|Annex [IVX]+(\(\d+\)\([a-z]\)| \d+\([a-z]\))?)"
    r"|GDPR Art\. \d+(\(\d+\))?(\([a-z]\))?"
    r"|DORA \(EU\) 2022/2554 Art\. \d+(\(\d+\))?(\([a-z]\))?"
    r"|EU Charter of Fundamental Rights Art\. \d+"
    r"|US 29 CFR [\d.]+\([A-Z]\) \(four-fifths rule\))$"
)


@pytest.fixture(scope="module")
def cases(shipped_cases: list[Case]) -> list[Case]:
    return shipped_cases


@pytest.fixture(scope="module")
def results(shipped_results: list[tuple[Case, Any]]) -> list[tuple[Case, Any]]:
    return shipped_results


def test_every_policy_case_passes(results) -> None:
    failures = [
        f"{case.where} {case.name}: {problems}"
        for case, decision in results
        if (problems := check_expectation(case.expect, decision))
    ]
    assert not failures, "\n".join(failures)


def test_every_control_has_a_failing_and_a_passing_case(engine: Engine, cases) -> None:
    fails: dict[str, list[str]] = defaultdict(list)
    passes: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        expect = case.expect
        for key in ("violations", "warnings", "audits"):
            for cid in expect.get(key, []):
                fails[cid].append(case.name)
        for cid in [*expect.get("not_violations", []), *expect.get("absent", [])]:
            passes[cid].append(case.name)
    catalogue = engine.policy_set.catalogue.controls
    no_fail = sorted(cid for cid in catalogue if not fails[cid])
    no_pass = sorted(cid for cid in catalogue if not passes[cid])
    assert not no_fail, f"controls without a case that makes them fire: {no_fail}"
    assert not no_pass, f"controls without a case that shows them passing: {no_pass}"
    unknown = sorted((set(fails) | set(passes)) - set(catalogue) - {"MLGATE-EVAL-ERROR"})
    assert not unknown, f"policy tests name controls the catalogue lacks: {unknown}"


def test_every_decision_matches_the_decision_schema(results, engine: Engine) -> None:
    validator = jsonschema.Draft202012Validator(DECISION_SCHEMA)
    for case, decision in results:
        errors = list(validator.iter_errors(decision.to_dict()))
        assert not errors, f"{case.name}: {errors[0].message}"
    # Failed-closed decisions and combined (multi-model) decisions too.
    broken = dict(results[0][0].document)
    broken["context"] = {"environment": "production", "now_ns": "yesterday"}
    validator.validate(engine.evaluate(broken).to_dict())
    docs = [c.document for c, _ in results[:3]]
    combined = engine.evaluate_all(docs, {"kind": "InferenceService", "name": "x"})
    validator.validate(combined.to_dict())


def test_decision_schema_lists_exactly_the_decision_fields(results) -> None:
    decision = results[0][1].to_dict()
    assert set(DECISION_SCHEMA["required"]) == set(decision)
    assert set(DECISION_SCHEMA["properties"]) == set(decision)
    violation_fields = set(DECISION_SCHEMA["$defs"]["violation"]["required"])
    denied = next(d for _, d in results if d.violations).violations[0].to_dict()
    assert violation_fields == set(denied)


def test_catalogue_and_rego_name_the_same_controls() -> None:
    policy_set = load_policy_set(POLICIES)
    refs = {r.control for r in rego_references(policy_set.modules, POLICIES)}
    assert refs == set(policy_set.catalogue.controls)
    # Nothing else to warn about, but the deliberately expired example exemption.
    warnings = cross_check(policy_set, to_ns("2026-11-23T10:00:00Z"))
    assert len(warnings) == 1 and "EX-2026-003" in warnings[0] and "expired" in warnings[0]


def test_catalogue_is_complete_and_precise() -> None:
    policy_set = load_policy_set(POLICIES)
    controls = list(policy_set.catalogue.controls.values())
    assert len(controls) >= 40
    assert {c.group for c in controls} == GROUPS
    for c in controls:
        assert c.rationale and c.remediation and c.title, c.id
        for regulation in c.regulations:
            assert REGULATION.match(regulation), f"{c.id}: imprecise reference {regulation!r}"
        # Every remediation names what to change: a card field, an annotation, a command or
        # a policy file.
        assert re.search(
            r"governance\.|model_details|mlgate |mlgate\.io/|params|trust\.yaml|decision log",
            c.remediation,
        ), c.id


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_group_has_controls_from_design(group: str) -> None:
    catalogue = load_policy_set(POLICIES).catalogue
    ids = {c.id for c in catalogue.controls.values() if c.group == group}
    required = {
        "risk-tiering": {
            "TIER-DECLARED",
            "TIER-ATTESTED",
            "TIER-PROHIBITED",
            "TIER-ANNEX-III",
            "TIER-DEROGATION",
        },
        "supply-chain": {
            "SC-SIGNED",
            "SC-TRUSTED-SIGNER",
            "SC-DIGEST-MATCH",
            "SC-DIGEST-PINNED",
            "SC-LEGACY-SIGNATURE",
            "SC-ATTESTED",
            "SC-LICENSE",
            "SC-SBOM",
        },
        "promotion": {
            "GATE-METRICS",
            "GATE-DRIFT",
            "GATE-FAIRNESS",
            "GATE-STABILITY",
            "GATE-CANARY",
            "GATE-APPROVALS",
            "GATE-FREEZE",
            "GATE-BREAK-GLASS",
            "GATE-STALENESS",
            "GATE-REVIEW",
        },
        "access": {"ACCESS-DEPLOYER"},
        "schema": {"SCHEMA-CARD"},
        "gdpr": {
            "GDPR-6-LAWFUL-BASIS",
            "GDPR-9-SPECIAL-CATEGORY",
            "GDPR-35-DPIA",
            "GDPR-22-AUTOMATED-DECISION",
            "GDPR-25-LOG-MINIMISATION",
            "GDPR-30-ROPA",
            "GDPR-32-SECURITY",
            "GDPR-44-TRANSFERS",
            "GDPR-5-RETENTION",
        },
        "high-risk": {
            "AIA-9-RISK-MANAGEMENT",
            "AIA-10-DATA-GOVERNANCE",
            "AIA-11-TECHNICAL-DOCUMENTATION",
            "AIA-12-LOGGING",
            "AIA-19-LOG-RETENTION",
            "AIA-13-INSTRUCTIONS",
            "AIA-14-HUMAN-OVERSIGHT",
            "AIA-15-ACCURACY",
            "AIA-17-QMS-CHANGE",
            "AIA-27-FRIA",
            "AIA-49-REGISTRATION",
            "AIA-72-POST-MARKET",
            "AIA-73-INCIDENT",
            "AIA-50-TRANSPARENCY",
        },
    }[group]
    assert required <= ids


def test_rego_unit_tests_pass_on_the_embedded_engine(shipped_rego_results: list[Any]) -> None:
    results = shipped_rego_results
    assert results, "no Rego test_ rules found"
    failed = [f"{r.name}: {r.problems}" for r in results if r.status == "fail"]
    assert not failed, failed
    assert sum(r.status == "pass" for r in results) >= 10


def test_docs_controls_md_is_generated_from_the_catalogue() -> None:
    catalogue = load_policy_set(POLICIES).catalogue
    expected = render_markdown(list(catalogue.controls.values()), "policies/controls.yaml")
    shipped = (REPO / "docs" / "controls.md").read_text(encoding="utf-8")
    assert shipped == expected, "regenerate: mlgate controls --output markdown > docs/controls.md"


def test_shipped_freeze_window_does_not_cover_the_test_clock(cases) -> None:
    params = load_policy_set(POLICIES).data["mlgate"]["params"]
    window = params["freeze_windows"][0]
    assert window["name"] == "year-end-2026"
    base = Suite(SUITE).base("compliant-high-production", "test")
    assert not window["start_ns"] <= base["context"]["now_ns"] <= window["end_ns"]


def test_policy_tests_directory_layout() -> None:
    files = sorted(p.name for p in SUITE.glob("*.yaml"))
    assert {"tiering.yaml", "high-risk.yaml", "gdpr.yaml", "supply-chain.yaml"} <= set(files)
    bases = sorted(p.stem for p in (SUITE / "bases").glob("*.yaml"))
    assert {"compliant-high-production", "compliant-minimal-dev"} <= set(bases)
    engine = Engine.from_path(POLICIES)
    for name in bases:
        document = Suite(SUITE).base(name, "test")
        assert engine.input_errors(document) == [], name
        decision = engine.evaluate(document)
        assert decision.allowed and not decision.warnings and not decision.audits, name
