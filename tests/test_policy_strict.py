"""Issue 16: a compliance officer's typo can never silently weaken a control.

Every policy data file has one closed schema: an unknown key, an unknown metric or environment
name, a parameter of the wrong type or one that does not resolve for some risk tier x
environment is an error with ``file:line`` (and, for a misspelling, the closest known name) in
``mlgate policy check`` and at every load: engine, CLI and the webhook's reload.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import POLICIES
from error_codes import cli_error, problem_codes
from mlgate.cli.main import main as mlgate_main
from mlgate.engine import Engine
from mlgate.errors import PolicyError
from mlgate.gates.drift import load_thresholds
from mlgate.gates.performance import METRICS
from mlgate.policyset import load_policy_set
from mlgate.policyset.params import parameter_schemas
from mlgate.policyset.validation import PolicyDataError, load_schema


def edit(path: Path, old: str, new: str) -> int:
    """Replaces the one occurrence of ``old``; returns the 1-based line of the edit."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not unique in {path.name}"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new))
    return line


def problems_of(policy_dir: Path) -> list[dict]:
    with pytest.raises(PolicyDataError) as info:
        load_policy_set(policy_dir)
    return [p.to_dict() for p in info.value.problems]


def check(capsys, policy_dir: Path) -> tuple[int, str, str]:
    code = mlgate_main(["policy", "check", str(policy_dir)])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# the two typos of the issue


@pytest.mark.parametrize(
    ("old", "new", "key", "suggestion"),
    [
        ("    psi_deny: 0.25 ", "    psi_dney: 0.25 ", "psi_dney", "psi_deny"),
        ("    min: {accuracy: 0.70}\n    max: {}", "    min: {acuracy: 0.70}\n    max: {}", "acuracy", "accuracy"),
    ],
)  # fmt: skip
def test_issue_typos_fail_policy_check_with_line_and_suggestion(
    capsys, policy_copy: Path, old: str, new: str, key: str, suggestion: str
) -> None:
    line = edit(policy_copy / "params.yaml", old, new)
    code, out, err = check(capsys, policy_copy)
    assert code == 2 and "OK" not in out
    assert f"params.yaml:{line}: " in err
    assert f"'{key}'" in err and f"did you mean '{suggestion}'?" in err
    [problem] = problems_of(policy_copy)
    assert problem["where"].endswith(f"params.yaml:{line}")
    assert problem["suggestion"] == suggestion
    assert problem["code"] in ("unknown-key", "unknown-name")


def test_a_typo_stops_the_engine_check_and_gate_from_loading(capsys, policy_copy: Path) -> None:
    line = edit(policy_copy / "params.yaml", "    psi_deny: 0.25 ", "    psi_dney: 0.25 ")
    where = [("unknown-key", f"{policy_copy / 'params.yaml'}:{line}")]
    with pytest.raises(PolicyError) as info:
        Engine.from_path(policy_copy)
    assert problem_codes(info.value) == where
    # mlgate gate reads the same file through the same reader.
    with pytest.raises(PolicyError) as info:
        load_thresholds(policy_copy / "params.yaml")
    assert problem_codes(info.value) == where
    manifest = Path(__file__).resolve().parents[1] / "examples" / "manifests"
    target = sorted(manifest.glob("*.yaml"))[0]
    err = cli_error(["check", "--policies", str(policy_copy), str(target)])
    assert problem_codes(err) == where


# --------------------------------------------------------------------------------------------
# unknown keys and names in every file


@pytest.mark.parametrize(
    ("file", "old", "new", "code", "suggestion"),
    [
        ("controls.yaml", "    severity: critical\n    enforcement: deny\n    parameters: [supply_chain.governance_predicate_type]\n    remediation: >\n      Produce",
         "    severty: critical\n    enforcement: deny\n    parameters: [supply_chain.governance_predicate_type]\n    remediation: >\n      Produce",
         "unknown-key", "severity"),
        ("controls.yaml", "parameters: [drift.psi_deny, drift.dataset_drift_share]",
         "parameters: [drift.psi_dney, drift.dataset_drift_share]", "unknown-name", "drift.psi_deny"),
        ("controls.yaml", "    applies_to: {tiers: [any], environments: [production]}\n    severity: critical\n    enforcement: deny\n    parameters: [supply_chain.governance_predicate_type]",
         "    applies_to: {tiers: [any], environments: [prodution]}\n    severity: critical\n    enforcement: deny\n    parameters: [supply_chain.governance_predicate_type]",
         "unknown-name", "production"),
        ("params.yaml", "      min: {accuracy: 0.80, auc: 0.85}", "      min: {accuracy: 0.80, acu: 0.85}",
         "unknown-name", "auc"),
        ("params.yaml", "    environments: [production]\n", "    environments: [prodction]\n",
         "unknown-name", "production"),
        ("params.yaml", "    approvals:\n      required_roles: [model-risk-officer, compliance-officer]",
         "    approvals:\n      required_role: [model-risk-officer, compliance-officer]",
         "unknown-key", "required_roles"),
        ("exemptions.yaml", "    control: GATE-FAIRNESS", "    control: GATE-FAIRNES",
         "unknown-reference", "GATE-FAIRNESS"),
        ("exemptions.yaml", "      environment: staging", "      environment: stagin",
         "unknown-name", "staging"),
        ("exemptions.yaml", "    ticket: GRC-2231", "    tciket: GRC-2231", "unknown-key", "ticket"),
        ("trust.yaml", "    purposes: [attestation]", "    purpose: [attestation]",
         "unknown-key", "purposes"),
    ],
)  # fmt: skip
def test_unknown_keys_and_names_name_the_line(
    policy_copy: Path, file: str, old: str, new: str, code: str, suggestion: str
) -> None:
    line = edit(policy_copy / file, old, new)
    found = [p for p in problems_of(policy_copy) if p["code"] == code]
    assert found, problems_of(policy_copy)
    # The problem is on the edited key or value (the edit may span a few lines).
    lines = {int(re.search(r":(\d+)$", p["where"])[1]) for p in found}
    assert any(line <= n <= line + new.count("\n") for n in lines), (line, found)
    assert all(p["where"].startswith(str(policy_copy / file)) for p in found)
    assert suggestion in {p["suggestion"] for p in found}


def test_unknown_tier_layer_would_be_ignored_so_it_is_an_error(policy_copy: Path) -> None:
    # prohibited and unknown tiers read the high parameters: a layer for them does nothing.
    edit(policy_copy / "params.yaml", "  limited:\n    metrics:", "  unknown:\n    metrics:")
    [problem] = problems_of(policy_copy)
    assert problem["code"] == "unknown-name" and "'unknown'" in problem["message"]


# --------------------------------------------------------------------------------------------
# types and resolution per tier x environment


def test_a_retyped_list_is_a_type_error(policy_copy: Path) -> None:
    line = edit(
        policy_copy / "params.yaml",
        "    required_roles: [peer-reviewer]\n    min_distinct_approvers: 1\n\n",
        "    required_roles: peer-reviewer\n    min_distinct_approvers: 1\n\n",
    )
    [problem] = problems_of(policy_copy)
    assert problem["code"] == "wrong-type"
    assert problem["where"].endswith(f"params.yaml:{line}")
    assert "/defaults/approvals/required_roles must be a list" in problem["message"]


def test_every_parameter_must_resolve_for_every_tier_and_environment(policy_copy: Path) -> None:
    # tiers.high sets canary.min_days; without the default, limited and minimal have none.
    edit(policy_copy / "params.yaml", "    min_days: 7\n", "")
    [problem] = problems_of(policy_copy)
    assert problem["code"] == "unresolved-parameter"
    assert "'canary.min_days'" in problem["message"]
    assert (
        "limited/production" in problem["message"] and "minimal/development" in problem["message"]
    )
    assert "high/" not in problem["message"]
    assert re.search(r"params\.yaml:\d+$", problem["where"])


def test_a_deleted_default_with_no_tier_value_is_unresolved_everywhere(policy_copy: Path) -> None:
    edit(
        policy_copy / "params.yaml",
        "    psi_deny: 0.25           # major shift: blocks the promotion (GATE-DRIFT)\n",
        "",
    )
    [problem] = problems_of(policy_copy)
    assert problem["code"] == "unresolved-parameter"
    assert "'drift.psi_deny'" in problem["message"]
    assert "any risk tier or environment" in problem["message"]


def test_all_problems_of_all_files_are_reported_together(policy_copy: Path) -> None:
    params = edit(policy_copy / "params.yaml", "    psi_deny: 0.25 ", "    psi_dney: 0.25 ")
    exemptions = edit(
        policy_copy / "exemptions.yaml", "    ticket: GRC-2231", "    tciket: GRC-2231"
    )
    err = cli_error(["policy", "check", str(policy_copy)])
    assert sorted(problem_codes(err)) == sorted([
        ("unknown-key", f"{policy_copy / 'params.yaml'}:{params}"),
        ("unknown-key", f"{policy_copy / 'exemptions.yaml'}:{exemptions}"),
    ])  # fmt: skip


def test_a_rego_control_id_missing_from_the_catalogue_is_an_error(
    capsys, policy_copy: Path
) -> None:
    text = (policy_copy / "controls.yaml").read_text()
    (policy_copy / "controls.yaml").write_text(
        text.replace("id: GATE-CANARY\n", "id: GATE-CANARI\n")
    )
    code, _, err = check(capsys, policy_copy)
    assert code == 2
    assert "GATE-CANARY is reported by the Rego but is not in controls.yaml" in err
    assert re.search(r"promotion\.rego:\d+: ", err)


# --------------------------------------------------------------------------------------------
# the schema is the one place to extend


def test_every_parameter_says_which_way_is_stricter() -> None:
    allowed = {"higher", "lower", "more", "fewer", "true", "changed"}
    for name, schema in parameter_schemas().items():
        assert schema.get("x-stricter") in allowed, name


def test_every_metric_an_evidence_producer_reports_is_known() -> None:
    known = load_schema("params.schema.json")["$defs"]["metric_name"]["enum"]
    assert set(METRICS) <= set(known)


def test_the_shipped_set_is_clean(capsys) -> None:
    code, out, err = check(capsys, POLICIES)
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("OK ")


def test_problems_are_values_with_codes(policy_copy: Path) -> None:
    edit(policy_copy / "params.yaml", "    psi_deny: 0.25 ", "    psi_dney: 0.25 ")
    [problem] = problems_of(policy_copy)
    assert json.loads(json.dumps(problem)) == problem
    assert set(problem) == {"code", "where", "message", "suggestion"}
