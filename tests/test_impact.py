"""mlgate impact: a policy change in a git repository, replayed on the audit log and on object
files, gives exactly the flips a fresh evaluation gives; unreproducible inputs are reported."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, POLICIES
from error_codes import cli_error
from mlgate.audit import AuditStore
from mlgate.audit.local import record_subjects
from mlgate.cli.main import main
from mlgate.engine import Engine
from mlgate.impact.objects import find_objects
from mlgate.subjects import RequestInfo

OBJECTS = [str(EXAMPLES / "manifests"), str(EXAMPLES / "k8s")]
RELEASE = RequestInfo(groups=("mlops-release-managers",), username="release-bot", source="manifest")


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A policy repository: main holds the shipped policies, branch `stricter` raises the
    high-risk AUC minimum (0.85 -> 0.90) and makes an audit-only control warn."""
    root = tmp_path_factory.mktemp("impact") / "repo"
    shutil.copytree(POLICIES, root / "policies")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "shipped policies")
    _git(root, "checkout", "-qb", "stricter")
    params = root / "policies" / "params.yaml"
    text = params.read_text()
    assert "min: {accuracy: 0.80, auc: 0.85}" in text
    params.write_text(
        text.replace("min: {accuracy: 0.80, auc: 0.85}", "min: {accuracy: 0.80, auc: 0.90}")
    )
    _git(root, "commit", "-qam", "raise the AUC minimum for high risk")
    _git(root, "checkout", "-q", "main")
    return root


@pytest.fixture(scope="module")
def audit_db(repo: Path, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("impact-db") / "audit.db"
    engine = Engine.from_path(repo / "policies")
    try:
        record_subjects(db, engine, [o.subject for o in find_objects(OBJECTS, RELEASE)])
    finally:
        engine.close()
    return db


def _impact(capsys, *args: str) -> tuple[int, dict]:
    code = main(["impact", *args, "-o", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _stricter_replay(capsys, repo: Path, db: Path, *extra: str) -> tuple[int, dict]:
    """``mlgate impact`` of the stricter branch against the repository's policies, replaying
    the decisions logged in ``db``."""
    return _impact(capsys, "--current", str(repo / "policies"), "--proposed", "git:stricter",
                   "--audit-db", str(db), *extra)  # fmt: skip


def _fresh(policy_dir: Path) -> dict[str, bool]:
    """A fresh evaluation of every example object: label -> allowed."""
    engine = Engine.from_path(policy_dir)
    try:
        return {
            f"{o.subject.kind}/{o.subject.namespace}/{o.subject.name}": engine.evaluate_subject(
                o.subject
            ).allowed
            for o in find_objects(OBJECTS, RELEASE)
        }
    finally:
        engine.close()


def _extract(repo: Path, rev: str, target: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", rev], capture_output=True, check=True
    ).stdout
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "policies"


def test_audit_replay_flips_match_a_fresh_evaluation(repo, audit_db, capsys, tmp_path) -> None:
    code, report = _stricter_replay(capsys, repo, audit_db)
    before = _fresh(repo / "policies")
    after = _fresh(_extract(repo, "stricter", tmp_path / "stricter"))
    expected = {label for label in before if before[label] and not after[label]}
    assert expected, "the stricter AUC minimum must block at least one example"
    flipped = {
        f"{f['kind']}/{f['namespace']}/{f['name']}"
        for f in report["flips"]
        if f["change"] == "allow->deny"
    }
    assert flipped == expected
    assert report["summary"]["deny_to_allow"] == 0
    # Every recorded decision is a policy result with its input kept: all replay, including
    # denials summarised as MLGATE-NEEDS-ATTESTATION (a policy result, not a system failure).
    assert report["not_reproducible"] == []
    assert report["summary"]["replayed"] == len(before)
    recorded = {f"{r['kind']}/{r['namespace']}/{r['name']}" for r in _recorded(audit_db)}
    assert recorded == set(before)
    assert code == 1  # something would flip to deny
    by_control = {g["key"]: g for g in report["by_control"]}
    # Objects denied already (for other reasons) can be denied by GATE-METRICS as well.
    newly = sum("GATE-METRICS" in f["new_denials"] for f in report["flips"])
    assert by_control["GATE-METRICS"]["counts"] == {"newly-denies": newly} and newly >= len(
        expected
    )
    assert report["proposed"]["kind"] == "git"
    diff = f"mlgate policy diff {repo / 'policies'} stricter:policies"
    assert any(diff in note for note in report["notes"])  # the why, next to the what
    assert all("GATE-METRICS" in f["new_denials"] for f in report["flips"])
    assert all("auc" in f["proposed_messages"]["GATE-METRICS"] for f in report["flips"])


def test_reverse_change_is_deny_to_allow_and_objects_agree(repo, audit_db, capsys) -> None:
    code, report = _impact(
        capsys, "--current", "git:stricter", "--proposed", str(repo / "policies"),
        "--audit-db", str(audit_db), "--group", "mlops-release-managers", "--user", "release-bot",
        *OBJECTS,
    )  # fmt: skip
    changes = {(f["origin"], f["change"]) for f in report["flips"]}
    assert {("audit", "deny->allow"), ("object", "deny->allow")} <= changes
    assert all(f["change"] in ("deny->allow", "deny-reasons-changed") for f in report["flips"])
    assert all(f["lifted_denials"] == ["GATE-METRICS"] for f in report["flips"])
    audit = sorted((f["name"], f["change"]) for f in report["flips"] if f["origin"] == "audit")
    objects = sorted((f["name"], f["change"]) for f in report["flips"] if f["origin"] == "object")
    assert audit == objects  # the log and the files tell the same story
    assert code == 0


def test_unchanged_policy_flips_nothing(repo, audit_db, capsys) -> None:
    code, report = _impact(
        capsys,
        "--current",
        str(repo / "policies"),
        "--proposed",
        "git:main",
        "--audit-db",
        str(audit_db),
    )
    assert (
        report["flips"] == []
        and report["summary"]["unchanged"] == report["summary"]["replayed"] > 0
    )
    assert code == 0


def test_time_window_selects_records(repo, audit_db, capsys) -> None:
    _, report = _stricter_replay(capsys, repo, audit_db, "--since", "2200-01-01T00:00:00Z")
    assert report["summary"]["replayed"] == 0 and report["window"]["since"].startswith("2200")


def _recorded(db: Path) -> list[dict]:
    store = AuditStore(db, create=False)
    try:
        return [r.body for r in store.records(types=("decision",))]
    finally:
        store.close()


def test_summarised_denials_are_recorded_and_replayed(audit_db) -> None:
    """The test repository holds decisions whose only system-looking control is a summary of
    policy findings; they must be among the replayed ones (see the test above)."""
    assert any("MLGATE-NEEDS-ATTESTATION" in r["controls"] for r in _recorded(audit_db))


def _copy_db(src: Path, dst: Path) -> Path:
    for suffix in ("", ".key"):
        shutil.copy(f"{src}{suffix}", f"{dst}{suffix}")
    return dst


def test_unreproducible_inputs_are_reported_not_guessed(repo, audit_db, capsys, tmp_path) -> None:
    db = _copy_db(audit_db, tmp_path / "audit.db")
    store = AuditStore(db)
    records = list(store.records(types=("decision",)))
    seqs = [r.seq for r in records if not any(c.startswith("MLGATE-") for c in r.body["controls"])]
    store.close()
    raw = sqlite3.connect(db)
    with raw:
        raw.execute("DELETE FROM replay_inputs WHERE seq = ?", (seqs[0],))  # as retention does
        raw.execute(  # an input edited after the fact
            "UPDATE replay_inputs SET body = replace(body, 'lending-prod', 'lending-dev') WHERE seq = ?",
            (seqs[1],),
        )
    raw.close()
    _, report = _stricter_replay(capsys, repo, db)
    reasons = {f["ref"]: f["reason_code"] for f in report["not_reproducible"]}
    assert reasons == {
        f"audit #{seqs[0]}": "no-stored-input",
        f"audit #{seqs[1]}": "input-digest-mismatch",
    }
    assert report["summary"]["replayed"] + report["summary"]["not_reproducible"] == len(records)


def test_decision_depending_on_masked_personal_data_is_not_reproducible(
    repo, capsys, tmp_path
) -> None:
    """A deployer who approved their own model is denied (self-approval); the log keeps the
    username and the approver only masked, so the replay cannot tell and says so."""
    db = tmp_path / "audit.db"
    approver = RequestInfo(
        groups=("mlops-release-managers",), username="j.berger@bank.example", source="manifest"
    )
    found = [o for o in find_objects([str(EXAMPLES / "k8s" / "credit-scorer-isvc.yaml")], approver)]
    engine = Engine.from_path(repo / "policies")
    try:
        (decision,) = record_subjects(db, engine, [o.subject for o in found])
    finally:
        engine.close()
    assert "GATE-APPROVALS" in decision.denied_controls
    _, report = _stricter_replay(capsys, repo, db)
    (item,) = report["not_reproducible"]
    assert item["reason_code"] in ("revision-mismatch", "depends-on-masked-data")
    assert report["flips"] == []


def test_trust_policy_change_is_not_replayed_from_logged_evidence(
    repo, audit_db, capsys, tmp_path
) -> None:
    proposed = tmp_path / "policies"
    shutil.copytree(repo / "policies", proposed)
    trust = proposed / "trust.yaml"
    trust.write_text(trust.read_text() + "\n# rotated\n")
    _, report = _impact(
        capsys,
        "--current",
        str(repo / "policies"),
        "--proposed",
        str(proposed),
        "--audit-db",
        str(audit_db),
    )
    signed = [f for f in report["not_reproducible"] if f["reason_code"] == "trust-changed"]
    assert signed, "decisions on signed models rest on evidence verified under the old trust"
    assert any("trust.yaml" in n for n in report["notes"])


@pytest.mark.parametrize("fmt", ["table", "html", "github", "sarif"])
def test_output_formats(repo, audit_db, capsys, fmt: str) -> None:
    code = main(["impact", "--current", str(repo / "policies"), "--proposed", "git:stricter",
                 "--audit-db", str(audit_db), "-o", fmt])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    if fmt == "table":
        assert "allow->deny" in out and "GATE-METRICS" in out
    elif fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and 'id="impact-flips"' in out
        assert "<script" not in out and "http://" not in out.replace(
            "http://www.w3.org/2000/svg", ""
        )
    elif fmt == "github":
        lines = out.strip().splitlines()
        assert any(line.startswith("::error file=policies/controls.yaml,") for line in lines)
        assert lines[-1].startswith("::notice title=mlgate impact::allow->deny")
    else:
        sarif = json.loads(out)
        results = sarif["runs"][0]["results"]
        assert results and "allow->deny" in {r["ruleId"] for r in results}
        assert all(r["level"] == "error" for r in results if r["ruleId"] == "allow->deny")


@pytest.mark.parametrize(
    ("argv", "code", "location"),
    [
        (["--proposed", "{policies}"], "impact.nothing_to_replay", None),
        (["--proposed", "git:no-such-branch", "--current", "{policies}", "{k8s}"],
         "impact.unknown_revision", "git:no-such-branch"),
        (["--proposed", "{policies}", "--since", "yesterday", "{k8s}"], "impact.bad_time", "--since"),
        (["--proposed", "{policies}", "--since", "2999-01-01", "{k8s}"], "impact.bad_time", "--since"),
        (["--proposed", "{policies}", "--audit-db", "{tmp}/none.db"], "audit.not_found", "{tmp}/none.db"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error(
    repo: Path, tmp_path: Path, argv: list[str], code: str, location: str | None
) -> None:
    paths = {"policies": repo / "policies", "k8s": EXAMPLES / "k8s", "tmp": tmp_path}
    err = cli_error(["impact", *(a.format(**paths) for a in argv)])
    assert err.code == code
    assert err.location == (location.format(**paths) if location else None)
