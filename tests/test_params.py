"""Parameters and enforcement are YAML: a compliance officer's edit changes decisions without
touching Rego."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import POLICIES, REPO
from error_codes import line_of, problem_codes
from mlgate.engine import Engine
from mlgate.errors import MlgateError
from mlgate.policyset import load_policy_set
from mlgate.policyset.params import load_params
from mlgate.policytest.cases import Suite, set_path
from mlgate.timeutil import to_ns

SUITE = Suite(REPO / "policy-tests")


def high() -> dict:
    return SUITE.base("compliant-high-production", "test")


def rego_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.rego")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not unique in {path.name}"
    path.write_text(text.replace(old, new))


# --------------------------------------------------------------------------------------------
# Layering: defaults -> tiers -> environments -> overrides
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resolved() -> dict:
    return load_params(POLICIES / "params.yaml")["resolved"]


def test_tier_layer_merges_mappings_key_by_key(resolved) -> None:
    # defaults.metrics.min has accuracy; tiers.high adds auc and raises accuracy.
    assert resolved["high"]["production"]["metrics"]["min"] == {"accuracy": 0.80, "auc": 0.85}
    assert resolved["minimal"]["production"]["metrics"]["min"] == {"accuracy": 0.70}
    # Keys the tier does not set come from the defaults.
    assert resolved["high"]["production"]["metrics"]["declared_tolerance"] == 0.01
    assert resolved["high"]["production"]["metrics"]["use_ci_lower_bound"] is True
    assert resolved["limited"]["production"]["metrics"]["use_ci_lower_bound"] is False


def test_environment_layer_and_override_replace_lists(resolved) -> None:
    groups = {
        (tier, env): resolved[tier][env]["access"]["allowed_groups"]
        for tier in ("high", "limited")
        for env in ("production", "staging", "development")
    }
    # The override (tier high + environment production) replaces the list, it does not append.
    assert groups["high", "production"] == [
        "mlops-release-managers",
        "system:serviceaccounts:argocd",
    ]
    assert "ml-platform-deployers" in groups["limited", "production"]
    assert "ml-engineers" in groups["high", "staging"] == groups["limited", "staging"]
    assert groups["high", "development"] == ["system:authenticated"]


def test_drift_defaults_keep_the_keys_the_statistics_read(resolved) -> None:
    assert resolved["high"]["production"]["drift"] == {
        "psi_warn": 0.1,
        "psi_deny": 0.25,
        "ks_pvalue": 0.05,
        "chi2_pvalue": 0.05,
        "dataset_drift_share": 0.5,
        "bins": 10,
    }


def test_freeze_windows_become_ns_ranges() -> None:
    [window] = load_params(POLICIES / "params.yaml")["freeze_windows"]
    assert window["start_ns"] == to_ns("2026-12-20T00:00:00Z")
    assert window["end_ns"] == to_ns("2027-01-05T00:00:00Z") - 1  # 2027-01-04 inclusive
    assert window["environments"] == ["production"]


# --------------------------------------------------------------------------------------------
# A compliance officer's YAML edits change decisions; the Rego stays byte-identical.
# --------------------------------------------------------------------------------------------


def test_raising_a_threshold_in_yaml_changes_the_decision(policy_copy: Path) -> None:
    before = rego_digest(policy_copy)
    assert Engine.from_path(policy_copy).evaluate(high()).allowed is True
    edit(
        policy_copy / "params.yaml",
        "min: {accuracy: 0.80, auc: 0.85}",
        "min: {accuracy: 0.80, auc: 0.90}",
    )
    decision = Engine.from_path(policy_copy).evaluate(high())
    assert rego_digest(policy_copy) == before
    assert decision.allowed is False
    [violation] = decision.violations
    assert violation.control == "GATE-METRICS"
    assert "auc 0.855" in violation.message and "minimum 0.9" in violation.message


def test_a_new_metric_and_a_maximum_need_no_rego(policy_copy: Path) -> None:
    edit(
        policy_copy / "params.yaml",
        "min: {accuracy: 0.80, auc: 0.85}",
        "min: {accuracy: 0.80, auc: 0.85, recall: 0.7}\n      max: {expected_calibration_error: 0.02}",
    )
    decision = Engine.from_path(policy_copy).evaluate(high())
    messages = [v.message for v in decision.violations if v.control == "GATE-METRICS"]
    assert any("no evaluation evidence for metric recall" in m for m in messages)
    assert any(
        "expected_calibration_error 0.027 (the upper bound of the confidence interval) is above "
        "the maximum 0.02" in m
        for m in messages
    )


def test_relaxing_the_two_person_rule_in_yaml(policy_copy: Path) -> None:
    doc = high()
    doc["evidence"]["approvals"] = doc["evidence"]["approvals"][:1]
    assert "GATE-APPROVALS" in Engine.from_path(policy_copy).evaluate(doc).denied_controls
    edit(
        policy_copy / "params.yaml",
        "required_roles: [model-risk-officer, compliance-officer]\n      min_distinct_approvers: 2",
        "required_roles: [model-risk-officer]\n      min_distinct_approvers: 1",
    )
    assert Engine.from_path(policy_copy).evaluate(doc).allowed is True


def test_a_mistyped_threshold_is_refused_at_load(policy_copy: Path) -> None:
    # Issue 16: the engine never loads a set with a mistyped threshold (it used to fall back to
    # the Rego default); the error names the line.
    edit(policy_copy / "params.yaml", "psi_deny: 0.25 ", 'psi_deny: "0.9"')
    line = next(
        i
        for i, t in enumerate((policy_copy / "params.yaml").read_text().splitlines(), 1)
        if '"0.9"' in t
    )
    with pytest.raises(MlgateError) as info:
        Engine.from_path(policy_copy)
    assert [p.code for p in info.value.problems] == ["wrong-type"]
    assert info.value.problems[0].where.endswith(f"params.yaml:{line}")


def test_enforcement_override_turns_a_denial_into_a_warning(policy_copy: Path) -> None:
    doc = high()
    set_path(doc, "evidence.drift.features.income.psi", 0.4)
    denied = Engine.from_path(policy_copy).evaluate(doc)
    assert denied.allowed is False and denied.denied_controls == ["GATE-DRIFT"]
    edit(
        policy_copy / "controls.yaml",
        "enforcement_overrides: {environments: {staging: warn}, namespaces: {ml-research: audit}}",
        "enforcement_overrides: {environments: {staging: warn, production: warn}, "
        "namespaces: {ml-research: audit}}",
    )
    warned = Engine.from_path(policy_copy).evaluate(doc)
    assert warned.allowed is True
    [warning] = warned.warnings
    assert warning.control == "GATE-DRIFT" and warning.enforcement == "warn"
    assert "income (PSI 0.4)" in warning.message


def test_a_namespace_override_beats_the_environment_default(policy_copy: Path) -> None:
    doc = high()
    doc["request"]["namespace"] = "ml-research"
    for step in doc["binding"]["pod_start_steps"]:  # the pod-start check runs in its pod's
        step["scope"]["namespace"] = "ml-research"
    set_path(doc, "evidence.drift.features.income.psi", 0.4)
    decision = Engine.from_path(policy_copy).evaluate(doc)
    assert decision.allowed is True
    assert [a.control for a in decision.audits] == ["GATE-DRIFT"]


def test_narrowing_applies_to_removes_a_control(policy_copy: Path) -> None:
    doc = high()
    doc["card"]["governance"].pop("sbom_ref")
    assert Engine.from_path(policy_copy).evaluate(doc).denied_controls == ["SC-SBOM"]
    edit(
        policy_copy / "controls.yaml",
        "applies_to: {tiers: [high, unknown], environments: [production, staging]}\n"
        "    severity: medium\n    enforcement: deny\n    enforcement_overrides: {environments: {staging: warn}}\n"
        "    remediation: Generate a CycloneDX",
        "applies_to: {tiers: [high, unknown], environments: [staging]}\n"
        "    severity: medium\n    enforcement: deny\n    enforcement_overrides: {environments: {staging: warn}}\n"
        "    remediation: Generate a CycloneDX",
    )
    assert Engine.from_path(policy_copy).evaluate(doc).allowed is True


def test_a_new_freeze_window_in_yaml_freezes_production(policy_copy: Path) -> None:
    assert Engine.from_path(policy_copy).evaluate(high()).allowed is True
    edit(
        policy_copy / "params.yaml",
        "freeze_windows:\n",
        'freeze_windows:\n  - name: quarter-close\n    start: "2026-11-20"\n'
        '    end: "2026-11-25"\n    environments: [production]\n',
    )
    decision = Engine.from_path(policy_copy).evaluate(high())
    assert decision.denied_controls == ["GATE-FREEZE"]
    assert "quarter-close" in decision.violations[0].message


def test_a_new_environment_in_params_is_known_and_no_longer_production(policy_copy: Path) -> None:
    doc = high()
    doc["context"]["environment"] = "qa"
    doc["card"]["governance"].pop("eu_database_registration_id")
    # Unknown "qa" is production: registration (production only) is required.
    assert "AIA-49-REGISTRATION" in Engine.from_path(policy_copy).evaluate(doc).denied_controls
    edit(
        policy_copy / "params.yaml",
        "environments:\n  production: {}\n",
        "environments:\n  production: {}\n  qa:\n    access:\n"
        '      allowed_groups: ["system:serviceaccounts:argocd"]\n',
    )
    decision = Engine.from_path(policy_copy).evaluate(doc)
    assert decision.subject["environment"] == "qa"
    assert "AIA-49-REGISTRATION" not in decision.denied_controls


@pytest.mark.parametrize(
    ("old", "new", "code", "at"),
    [
        # The window's own line (its "- name:" entry, two lines above "end:").
        ('    end: "2027-01-04"\n', '    end: "2026-12-01"\n', "params.freeze_window_order", -2),
        ('    start: "2026-12-20"\n', '    start: "soon"\n', "time.not_rfc3339", 0),
        ("kind: Parameters", "kind: Params", "invalid", 0),
        ("  - tier: high\n    environment: production\n",
         "  - tier: hihg\n    environment: production\n", "unknown-name", 0),
    ],
)  # fmt: skip
def test_invalid_params_name_the_line(
    policy_copy: Path, old: str, new: str, code: str, at: int
) -> None:
    """``at``: the error's line relative to the first edited line."""
    path = policy_copy / "params.yaml"
    edit(path, old, new)
    with pytest.raises(MlgateError) as info:
        load_policy_set(policy_copy)
    line = line_of(path.read_text(), new.splitlines()[0]) + at
    assert problem_codes(info.value) == [(code, f"{path}:{line}")]
