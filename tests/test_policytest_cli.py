"""`mlgate test`, `mlgate controls` and `mlgate policy check`, run in-process."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import POLICIES, REPO
from mlgate.cli.main import main
from mlgate.decide import EVAL_ERROR_CONTROL
from mlgate.engine import Engine
from mlgate.policytest.cases import Suite

SUITE = REPO / "policy-tests"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def suite_copy(tmp_path: Path) -> Path:
    """An empty case directory that shares the shipped bases."""
    target = tmp_path / "cases"
    target.mkdir()
    shutil.copytree(SUITE / "bases", target / "bases")
    return target


def write_cases(directory: Path, text: str, name: str = "cases.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------
# mlgate test
# --------------------------------------------------------------------------------------------


def test_shipped_suite_passes(capsys) -> None:
    # The CLI path end to end, on a slice: every shipped case and Rego rule is checked once per
    # session by tests/test_policy_library.py (shipped_results, shipped_rego_results).
    code, out, _ = run(capsys, "test", str(SUITE), "--run", r"unsigned|mlgate\.(lib|tier)_test\.")
    assert code == 0, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert " 0 failed" in last and "policy cases" in last and "Rego tests" in last
    assert "PASS  mlgate.lib_test." in out  # Rego test_ rules ran on the embedded engine
    assert "PASS  mlgate.tier_test." in out  # `with` modules run on the Wasm engine too


def test_json_output_lists_every_selected_case(capsys, shipped_cases) -> None:
    code, out, _ = run(capsys, "test", str(SUITE), "--output", "json", "--no-rego", "--run", "sign")
    report = json.loads(out)
    assert code == 0
    assert report["summary"]["failed"] == 0
    assert len(shipped_cases) >= 150
    assert report["summary"]["cases"] == sum("sign" in c.name for c in shipped_cases) >= 10
    first = report["results"][0]
    assert {"name", "file", "line", "status", "actual"} <= set(first)
    assert first["file"].endswith(".yaml") and first["line"] > 0


def test_junit_output_parses(capsys) -> None:
    code, out, _ = run(capsys, "test", str(SUITE), "--output", "junit", "--run", "freeze")
    assert code == 0
    root = ET.fromstring(out)
    assert root.tag == "testsuites" and root.get("failures") == "0"
    cases = root.findall("testsuite/testcase")
    assert cases and all("freeze" in c.get("name") for c in cases)
    assert all(c.get("classname") for c in cases)


def test_run_filters_cases_by_regex(capsys) -> None:
    code, out, _ = run(capsys, "test", str(SUITE), "--run", "^an unsigned model", "--no-rego")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("PASS")]
    assert lines and all("an unsigned model" in line for line in lines)


def test_a_failing_case_exits_1_and_shows_the_difference(capsys, suite_copy: Path) -> None:
    write_cases(
        suite_copy,
        """\
cases:
  - name: wrongly expects an unsigned model to pass
    base: compliant-high-production
    set: {signature.present: false, signature.verified: false}
    expect:
      allowed: true
      not_violations: [SC-SIGNED]
      violations: [SC-SBOM]
""",
    )
    code, out, _ = run(capsys, "test", str(suite_copy), "--no-rego")
    assert code == 1
    assert "FAIL  wrongly expects an unsigned model to pass" in out
    assert "cases.yaml:2" in out
    assert "allowed: expected True, got False" in out
    assert "missing [SC-SBOM]" in out
    assert "not_violations: SC-SIGNED was denied: model is not signed" in out
    root = ET.fromstring(run(capsys, "test", str(suite_copy), "-o", "junit", "--no-rego")[1])
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "allowed: expected True" in failure.get("message")


def test_exact_expectations_report_unexpected_controls(capsys, suite_copy: Path) -> None:
    write_cases(
        suite_copy,
        """\
cases:
  - name: exact sets
    base: compliant-high-production
    unset: [card.governance.sbom_ref, card.governance.qms_change_ref]
    expect: {exact: true, violations: [SC-SBOM]}
""",
    )
    code, out, _ = run(capsys, "test", str(suite_copy), "--no-rego")
    assert code == 1
    assert "unexpected [AIA-17-QMS-CHANGE]" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cases:\n  - name: x\n    base: compliant-high-production\n    expct: {}\n",
            "cases.yaml:2",
        ),
        (
            "cases:\n  - name: x\n    base: nope\n    expect: {allowed: true}\n",
            "base 'nope' not found",
        ),
        (
            "cases:\n  - name: x\n    base: compliant-high-production\n"
            "    unset: [card.governance.no_such_field]\n    expect: {allowed: true}\n",
            "cases.yaml:4: unset card.governance.no_such_field",
        ),
        (
            "cases:\n  - name: x\n    base: compliant-high-production\n"
            "    set: {card.governance.risk_tier.deeper: 1}\n    expect: {allowed: true}\n",
            "cases.yaml:4: set card.governance.risk_tier.deeper",
        ),
        ("cases:\n  - name: x\n    expect: {allowed: true}\n", "case has no base"),
        (
            "cases:\n  - {name: x, base: compliant-minimal-dev, expect: {allowed: true}}\n"
            "  - {name: x, base: compliant-minimal-dev, expect: {allowed: true}}\n",
            "cases.yaml:3: duplicate case name 'x'",
        ),
        ("cases: [unclosed\n", "cases.yaml:2: invalid YAML"),
        (
            "cases:\n  - name: x\n    base: compliant-minimal-dev\n    now: next tuesday\n"
            "    expect: {allowed: true}\n",
            "cases.yaml:4",
        ),
        (
            "cases:\n  - name: x\n    base: compliant-minimal-dev\n    expect: {allowed: maybe}\n",
            "cases.yaml:4: /cases/0/expect/allowed",
        ),
    ],
)
def test_a_bad_test_file_exits_2_with_file_and_line(capsys, suite_copy, text, expected) -> None:
    write_cases(suite_copy, text)
    code, _, err = run(capsys, "test", str(suite_copy), "--no-rego")
    assert code == 2
    assert expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_directory_and_bad_regex_exit_2(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "test", str(tmp_path / "nope"))
    assert code == 2 and "not found" in err
    code, _, err = run(capsys, "test", str(SUITE), "--run", "(")
    assert code == 2 and "--run" in err


def test_without_dir_and_no_local_suite_the_error_says_pass_one(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "test")
    assert code == 2 and "mlgate test DIR" in err


def test_json_pointer_paths_reach_keys_with_dots(capsys, suite_copy: Path) -> None:
    write_cases(
        suite_copy,
        """\
cases:
  - name: a dotted annotation key is set through a JSON pointer
    base: compliant-high-production
    set:
      /request/annotations/mlgate.io~1break-glass: INC-1
      /context/break_glass: {requested: true, reason: INC-1}
    expect: {allowed: true, audits: [GATE-BREAK-GLASS]}
""",
    )
    code, out, _ = run(capsys, "test", str(suite_copy), "--no-rego")
    assert code == 0, out


def test_failing_rego_unit_test_is_reported(capsys, tmp_path: Path, suite_copy: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "extra_test.rego").write_text(
        "package mlgate.extra_test\n\nimport data.mlgate.lib\n\n"
        'test_num_parses if {\n\tlib.num("2") == 2\n}\n\n'
        'test_deliberately_wrong if {\n\tlib.num("2") == 3\n}\n'
    )
    write_cases(
        suite_copy,
        "cases:\n  - {name: dev model, base: compliant-minimal-dev, expect: {allowed: true}}\n",
    )
    code, out, _ = run(capsys, "test", str(suite_copy), "--policies", str(policies))
    assert code == 1
    assert "PASS  mlgate.extra_test.test_num_parses" in out
    assert "FAIL  mlgate.extra_test.test_deliberately_wrong" in out
    assert "extra_test.rego:9" in out


# --------------------------------------------------------------------------------------------
# Fail closed: a builtin error in a rule denies the whole decision and names the error.
# --------------------------------------------------------------------------------------------


def _break_a_rule(policies: Path, expression: str) -> None:
    path = policies / "controls" / "access.rego"
    source = path.read_text()
    path.write_text(
        source
        + "\n# A rule that hits a builtin error under strict builtin errors.\n"
        + 'findings contains lib.finding("ACCESS-DEPLOYER", "x", "") if {\n'
        + f"\t{expression}\n}}\n"
    )


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("to_number(input.model.name) > 1", "credit-risk-scorer"),
        ('base64.decode(input.model.uri) == "x"', "base64"),
    ],
)
def test_a_builtin_error_fails_closed(policy_copy: Path, expression: str, named: str) -> None:
    # On the OPA server (strict builtin errors). OPA's Wasm target makes a failing builtin
    # undefined instead; see test_engine.py for how rules stay fail-closed there.
    from opa_support import OPA

    if OPA is None:
        pytest.skip("OPA binary not found: run `make opa` (or set MLGATE_OPA)")
    _break_a_rule(policy_copy, expression)
    document = Suite(SUITE).base("compliant-high-production", "test")
    engine = Engine.from_path(policy_copy, "opa", opa_binary=OPA)
    try:
        decision = engine.evaluate(document)
    finally:
        engine.close()
    assert decision.allowed is False
    assert [v.control for v in decision.violations] == [EVAL_ERROR_CONTROL]
    assert decision.risk_tier == "unknown"
    message = decision.violations[0].message
    assert named in message
    assert "error" in message.lower() or "failed" in message.lower()


def test_policy_tests_can_assert_fail_closed(capsys, policy_copy: Path, suite_copy: Path) -> None:
    # A host builtin error (time.date runs in Python) fails the Wasm evaluation: a denial.
    _break_a_rule(policy_copy, "time.date(input.model.name)[0] > 1")
    write_cases(
        suite_copy,
        """\
cases:
  - name: a compliant model is denied when a rule errors
    base: compliant-high-production
    expect:
      allowed: false
      exact: true
      violations: [MLGATE-EVAL-ERROR]
      messages: {MLGATE-EVAL-ERROR: credit-risk-scorer}
""",
    )
    code, out, _ = run(capsys, "test", str(suite_copy), "--policies", str(policy_copy), "--no-rego")
    assert code == 0, out


# --------------------------------------------------------------------------------------------
# mlgate controls
# --------------------------------------------------------------------------------------------


def test_controls_table_json_and_markdown(capsys) -> None:
    code, out, _ = run(capsys, "controls")
    assert code == 0
    assert "SC-SIGNED  [critical]" in out and "regulations: EU AI Act Art. 15(5)" in out
    assert out.strip().endswith("controls in 7 groups")
    code, out, _ = run(capsys, "controls", "--output", "json", "--group", "gdpr")
    controls = json.loads(out)
    assert code == 0 and controls and {c["group"] for c in controls} == {"gdpr"}
    assert {"id", "regulations", "applies_to", "enforcement_overrides", "remediation"} <= set(
        controls[0]
    )
    code, out, _ = run(capsys, "controls", "-o", "markdown")
    assert code == 0 and out.startswith("# Controls") and "| `GATE-FREEZE` |" in out


def test_controls_unknown_group_exits_2(capsys) -> None:
    code, _, err = run(capsys, "controls", "--group", "nonsense")
    assert code == 2 and "groups: access" in err


# --------------------------------------------------------------------------------------------
# mlgate policy check
# --------------------------------------------------------------------------------------------


def test_policy_check_ok(capsys) -> None:
    code, out, _ = run(capsys, "policy", "check", str(POLICIES), "--now", "2026-11-23T10:00:00Z")
    assert code == 0
    assert "OK " in out and "56 controls in 7 groups" in out
    assert "exemption EX-2026-003 for SC-SBOM expired on 2026-06-30" in out  # a warning


def test_policy_check_strict_turns_warnings_into_errors(capsys) -> None:
    code, _, err = run(capsys, "policy", "check", str(POLICIES), "--strict")
    assert code == 2 and "--strict" in err


def test_broken_rego_edit_exits_2_with_file_and_line(capsys, policy_copy: Path) -> None:
    path = policy_copy / "controls" / "gdpr.rego"
    lines = path.read_text().splitlines()
    lines.insert(20, "broken := 1 + + 2")
    path.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "policy", "check", str(policy_copy))
    assert code == 2
    assert "controls/gdpr.rego:21:" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("rule", "builtin"),
    [
        ('x := http.send({"method": "get", "url": "https://example.com"})', "http.send"),
        ("x := time.now_ns()", "time.now_ns"),
    ],
)
def test_unsafe_builtin_rejected_naming_file_and_builtin(
    capsys, policy_copy, rule, builtin
) -> None:
    path = policy_copy / "controls" / "supplychain.rego"
    path.write_text(path.read_text() + f"\n{rule}\n")
    line = len(path.read_text().splitlines())
    code, _, err = run(capsys, "policy", "check", str(policy_copy))
    assert code == 2
    assert f"supplychain.rego:{line}: {builtin}" in err


def test_catalogue_error_names_the_line(capsys, policy_copy: Path) -> None:
    path = policy_copy / "controls.yaml"
    text = path.read_text()
    path.write_text(text.replace("severity: critical", "severity: catastrophic", 1))
    line = next(
        i for i, line in enumerate(path.read_text().splitlines(), 1) if "catastrophic" in line
    )
    code, _, err = run(capsys, "policy", "check", str(policy_copy))
    assert code == 2
    assert f"controls.yaml:{line}:" in err and "catastrophic" in err


def test_a_threshold_of_the_wrong_type_is_an_error(capsys, policy_copy: Path) -> None:
    path = policy_copy / "params.yaml"
    text = path.read_text()
    path.write_text(text.replace("min_parity_ratio: 0.8", 'min_parity_ratio: "80%"', 1))
    line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "80%" in line)
    code, _, err = run(capsys, "policy", "check", str(policy_copy))
    assert code == 2
    assert (
        f"params.yaml:{line}: /defaults/fairness/min_parity_ratio must be a number, got '80%'"
        in err
    )


def test_cross_check_warns_about_unused_and_unknown_controls(capsys, policy_copy: Path) -> None:
    path = policy_copy / "controls" / "schema.rego"
    source = path.read_text().replace(
        'lib.finding("SCHEMA-CARD", msg, "/card")', 'lib.finding("SCHEMA-CARDS", msg, "/card")'
    )
    path.write_text(source)
    # A control id the Rego reports but the catalogue lacks is an error (issue 16).
    code, _, err = run(capsys, "policy", "check", str(policy_copy))
    assert code == 2
    assert "control id SCHEMA-CARDS is reported by the Rego but is not in controls.yaml" in err
    assert "schema.rego:" in err and "did you mean 'SCHEMA-CARD'" in err
    path.write_text(path.read_text().replace('"SCHEMA-CARDS"', '"SCHEMA-CARD"'))
    # A catalogue control that no rule reports: a warning that it can never fire.
    controls = policy_copy / "controls.yaml"
    text = controls.read_text()
    start = text.index("  - id: SCHEMA-CARD")
    block = text[start:].replace("id: SCHEMA-CARD", "id: SCHEMA-CARD-EXTRA", 1)
    controls.write_text(text + block if text.endswith("\n") else text + "\n" + block)
    code, out, _ = run(capsys, "policy", "check", str(policy_copy))
    assert code == 0
    assert "controls.yaml:" in out
    assert "control SCHEMA-CARD-EXTRA is never reported by any Rego rule" in out


def test_policy_without_subcommand_prints_usage(capsys) -> None:
    code, out, _ = run(capsys, "policy")
    assert code == 2 and "check" in out
