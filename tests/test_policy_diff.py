"""Issue 16: ``mlgate policy diff OLD NEW`` shows the effective change per risk tier x
environment after layering, flags weakening, and ``--fail-on-weaken`` exits 1."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import POLICIES
from error_codes import cli_error
from mlgate.cli.main import main as mlgate_main

NOW = "2026-12-01T00:00:00Z"


@pytest.fixture
def new(tmp_path: Path) -> Path:
    target = tmp_path / "new"
    shutil.copytree(POLICIES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not unique in {path.name}"
    path.write_text(text.replace(old, new))


def diff(capsys, old: Path | str, new: Path | str, *extra: str) -> tuple[int, dict]:
    code = mlgate_main(["policy", "diff", str(old), str(new), "--now", NOW, "-o", "json", *extra])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return code, json.loads(out)


def changes(result: dict, **match: str) -> list[dict]:
    return [c for c in result["changes"] if all(c[k] == v for k, v in match.items())]


def test_identical_sets_have_no_change(capsys, new: Path) -> None:
    code, result = diff(capsys, POLICIES, new, "--fail-on-weaken")
    assert code == 0
    assert result["changes"] == [] and result["summary"] == {
        "weaker": 0,
        "stricter": 0,
        "changed": 0,
    }


def test_a_raised_deny_threshold_is_weaker_everywhere(capsys, new: Path) -> None:
    edit(new / "params.yaml", "    psi_deny: 0.25 ", "    psi_deny: 0.3 ")
    code, result = diff(capsys, POLICIES, new)
    assert code == 0  # reporting only without --fail-on-weaken
    [change] = changes(result, subject="drift.psi_deny")
    assert (change["kind"], change["old"], change["new"]) == ("parameter", 0.25, 0.3)
    assert change["direction"] == "weaker"
    assert change["scope"] == "every tier x environment"
    assert len(change["cells"]) == 3 * 3
    code, _ = diff(capsys, POLICIES, new, "--fail-on-weaken")
    assert code == 1


def test_a_tier_layer_change_is_scoped_to_that_tier(capsys, new: Path) -> None:
    edit(
        new / "params.yaml",
        "min: {accuracy: 0.80, auc: 0.85}",
        "min: {accuracy: 0.82}",
    )
    code, result = diff(capsys, POLICIES, new, "--fail-on-weaken")
    assert code == 1
    [auc] = changes(result, subject="metrics.min.auc")
    assert auc["direction"] == "weaker" and auc["new"] == "unset"
    assert {c["tier"] for c in auc["cells"]} == {"high"}
    [accuracy] = changes(result, subject="metrics.min.accuracy")
    assert accuracy["direction"] == "stricter" and (accuracy["old"], accuracy["new"]) == (0.8, 0.82)


def test_stricter_only_passes_fail_on_weaken(capsys, new: Path) -> None:
    edit(new / "params.yaml", "    max_model_age_days: 180\n", "    max_model_age_days: 90\n")
    code, result = diff(capsys, POLICIES, new, "--fail-on-weaken")
    assert code == 0
    assert result["summary"]["weaker"] == 0 and result["summary"]["stricter"] == 1


def test_list_parameters_know_which_way_is_stricter(capsys, new: Path) -> None:
    # Removing a required role loosens; adding an allowed group loosens.
    edit(
        new / "params.yaml",
        "required_roles: [model-risk-officer, compliance-officer]",
        "required_roles: [model-risk-officer]",
    )
    edit(
        new / "params.yaml",
        '      allowed_groups: ["system:authenticated"]',
        '      allowed_groups: ["system:authenticated", "system:unauthenticated"]',
    )
    _, result = diff(capsys, POLICIES, new)
    [roles] = changes(result, subject="approvals.required_roles")
    assert roles["direction"] == "weaker" and roles["old"] == ["compliance-officer"]
    [groups] = changes(result, subject="access.allowed_groups")
    assert groups["direction"] == "weaker" and groups["new"] == ["system:unauthenticated"]
    assert {c["environment"] for c in groups["cells"]} == {"development"}


def test_enforcement_deny_to_warn_in_production_is_weaker(capsys, new: Path) -> None:
    edit(
        new / "controls.yaml",
        "enforcement_overrides: {environments: {staging: warn}, namespaces: {ml-research: audit}}",
        "enforcement_overrides: {environments: {staging: warn, production: warn}, "
        "namespaces: {ml-research: audit}}",
    )
    code, result = diff(capsys, POLICIES, new, "--fail-on-weaken")
    assert code == 1
    [change] = changes(result, kind="enforcement")
    assert (change["subject"], change["old"], change["new"]) == ("GATE-DRIFT", "deny", "warn")
    assert {c["environment"] for c in change["cells"]} == {"production"}
    assert all("namespace" not in c for c in change["cells"])


def test_narrowing_applies_to_is_weaker_and_widening_stricter(capsys, new: Path) -> None:
    text = (new / "controls.yaml").read_text()
    start = text.index("  - id: TIER-ATTESTED")
    block_end = text.index("  - id:", start + 5)
    block = text[start:block_end].replace(
        "applies_to: {tiers: [any], environments: [production]}",
        "applies_to: {tiers: [any], environments: [production, staging]}",
    )
    (new / "controls.yaml").write_text(text[:start] + block + text[block_end:])
    _, result = diff(capsys, POLICIES, new, "--fail-on-weaken")
    [change] = changes(result, subject="TIER-ATTESTED")
    assert (change["old"], change["new"], change["direction"]) == (
        "not applied",
        "deny",
        "stricter",
    )
    assert {c["environment"] for c in change["cells"]} == {"staging"}


def test_exemptions_added_extended_and_expired(capsys, new: Path) -> None:
    edit(new / "exemptions.yaml", '    expires: "2027-02-28"', '    expires: "2027-06-30"')
    text = (new / "exemptions.yaml").read_text()
    (new / "exemptions.yaml").write_text(
        text + "\n  - id: EX-2026-099\n    control: GATE-CANARY\n    scope: {namespace: ml-batch}\n"
        "    reason: Batch models have no live traffic to canary against.\n"
        '    approver: cro@bank.example\n    expires: "2027-03-31"\n'
    )
    code, result = diff(capsys, POLICIES, new, "--fail-on-weaken")
    assert code == 1
    [extended] = changes(result, subject="EX-2026-014")
    assert extended["direction"] == "weaker" and extended["detail"].startswith("extended")
    [added] = changes(result, subject="EX-2026-099")
    assert added["direction"] == "weaker" and added["new"]["control"] == "GATE-CANARY"
    # Expiring an active exemption early is stricter.
    edit(new / "exemptions.yaml", '    expires: "2027-06-30"', '    expires: "2026-11-30"')
    _, result = diff(capsys, POLICIES, new)
    [expired] = changes(result, subject="EX-2026-014")
    assert expired["direction"] == "stricter" and expired["detail"].startswith("expired")


def test_a_new_environment_shows_what_it_relaxes_against_production(capsys, new: Path) -> None:
    edit(
        new / "params.yaml",
        "environments:\n  production: {}\n",
        'environments:\n  production: {}\n  qa:\n    access:\n      allowed_groups: ["qa-testers"]\n',
    )
    _, result = diff(capsys, POLICIES, new, "--fail-on-weaken")
    assert "qa" in result["environments"]
    # qa was production; production-only controls no longer apply there.
    registration = changes(result, subject="AIA-49-REGISTRATION")
    assert registration and registration[0]["direction"] == "weaker"
    assert {c["environment"] for c in registration[0]["cells"]} == {"qa"}
    groups = changes(result, subject="access.allowed_groups")
    assert groups and all(g["direction"] == "weaker" and g["new"] == ["qa-testers"] for g in groups)
    assert {c["environment"] for g in groups for c in g["cells"]} == {"qa"}


def test_freeze_window_removed_is_weaker(capsys, new: Path) -> None:
    edit(new / "params.yaml", '    end: "2027-01-04"', '    end: "2026-12-27"')
    _, result = diff(capsys, POLICIES, new)
    [window] = changes(result, kind="freeze-window")
    assert window["subject"] == "year-end-2026" and window["direction"] == "weaker"


def test_a_new_trusted_signer_is_weaker(capsys, new: Path) -> None:
    text = (new / "trust.yaml").read_text()
    (new / "trust.yaml").write_text(
        text.replace(
            "authorities:\n",
            "authorities:\n  - name: extra-signer\n    purposes: [model]\n"
            "    keyless:\n      identities: [{issuer: https://i.example, subject: a@b}]\n",
            1,
        )
    )
    _, result = diff(capsys, POLICIES, new)
    [signer] = changes(result, kind="trust")
    assert signer["subject"] == "extra-signer" and signer["direction"] == "weaker"


def test_table_output_flags_weakening(capsys, new: Path) -> None:
    edit(new / "params.yaml", "    psi_deny: 0.25 ", "    psi_deny: 0.3 ")
    code = mlgate_main(["policy", "diff", str(POLICIES), str(new), "--fail-on-weaken"])
    out = capsys.readouterr().out
    assert code == 1
    assert "WEAKER" in out and "drift.psi_deny: 0.25 -> 0.3" in out
    assert "in every tier x environment" in out


def test_a_broken_new_set_is_an_error_not_a_diff(capsys, new: Path) -> None:
    edit(new / "params.yaml", "    psi_deny: 0.25 ", "    psi_dney: 0.25 ")
    err = cli_error(["policy", "diff", str(POLICIES), str(new)])
    [problem] = err.problems
    assert (problem.code, problem.suggestion) == ("unknown-key", "psi_deny")
    assert problem.where.startswith(f"{new / 'params.yaml'}:")


def test_old_can_be_a_git_revision(capsys, tmp_path: Path, monkeypatch) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    shutil.copytree(POLICIES, repo / "policies")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
    }
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env=env)
    edit(repo / "policies" / "params.yaml", "    psi_deny: 0.25 ", "    psi_deny: 0.3 ")
    monkeypatch.chdir(repo)
    code, result = diff(capsys, "HEAD:policies", "policies", "--fail-on-weaken")
    assert code == 1 and [c["subject"] for c in result["changes"]] == ["drift.psi_deny"]
    err = cli_error(["policy", "diff", "no-such-rev:policies", str(POLICIES)])
    assert (err.code, err.location) == ("git.unreadable", "no-such-rev:policies")
