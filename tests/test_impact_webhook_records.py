"""`mlgate impact` on decisions the real webhook recorded: evaluated decisions replay (and
agree with the recorded outcome); refusals, housekeeping UPDATEs and system failures are
reported as not reproducible, each with its reason code, never guessed."""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from conftest import POLICIES
from error_codes import raises_code
from mlgate.cli.main import main
from webhook_app_support import StubEngine, app_with, records
from webhook_support import objects, review

RELEASE = {"username": "release-bot", "groups": ["mlops-release-managers"]}


def _answer(client: Any, doc: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/validate", json=doc)
    assert r.status_code == 200, r.text
    return r.json()["response"]


def _impact(capsys, db: Path) -> dict[str, Any]:
    code = main(["impact", "--current", str(POLICIES), "--proposed", str(POLICIES),
                 "--audit-db", str(db), "-o", "json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0  # the same policy set flips nothing
    return report


def test_webhook_records_replay_or_say_why_not(tmp_path, capsys) -> None:
    client, webhook = app_with(tmp_path, None, max_containers=4)
    try:
        kinds = objects("ml-prod")
        evaluated = [_answer(client, review(kinds[k], user=RELEASE)) for k in
                     ("InferenceService", "Deployment")]  # fmt: skip
        wide = copy.deepcopy(kinds["Deployment"])
        spec = wide["spec"]["template"]["spec"]
        spec["containers"] = [dict(spec["containers"][0], name=f"c{i}") for i in range(5)]
        limited = _answer(client, review(wide, user=RELEASE))
        manifest = {
            "apiVersion": "mlgate.io/v1",
            "kind": "ModelManifest",
            "metadata": {"name": "m", "namespace": "ml-prod"},
            "spec": {"model": {"name": "m", "uri": "s3://m/x"}},
        }
        ci_only = _answer(client, review(manifest, user=RELEASE))
        old = copy.deepcopy(kinds["InferenceService"])
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = {"team": "risk"}
        update = review(new, operation="UPDATE", user=RELEASE)
        update["request"]["oldObject"] = old
        housekeeping = _answer(client, update)
        # A backend that cannot be reached, with --fail-open: admitted, but no policy result.
        webhook.config.fail_open = True
        webhook.reloader.engine = StubEngine("unavailable")
        failed_open = _answer(client, review(kinds["InferenceService"], user=RELEASE))
    finally:
        client.__exit__(None, None, None)
    assert limited["auditAnnotations"]["denied-controls"] == "MLGATE-LIMIT-EXCEEDED"
    assert ci_only["auditAnnotations"]["denied-controls"] == "MLGATE-INPUT-INVALID"
    assert housekeeping["allowed"] is True and failed_open["allowed"] is True

    db = tmp_path / "audit.db"
    by_id = {r["decision_id"]: r["seq"] for r in records(db) if r["type"] == "decision"}

    def ref(resp: dict[str, Any]) -> str:
        return f"audit #{by_id[resp['auditAnnotations']['decision-id']]}"

    report = _impact(capsys, db)
    codes = {f["ref"]: f["reason_code"] for f in report["not_reproducible"]}
    assert codes == {
        ref(limited): "refused-before-evaluation",
        ref(ci_only): "refused-before-evaluation",
        ref(housekeeping): "not-evaluated",
        ref(failed_open): "system-failure",
    }
    assert all(f["reason"] for f in report["not_reproducible"])
    # The evaluated decisions replay, and the replay under the recording set gives the record.
    assert report["summary"]["replayed"] == len(evaluated) == report["summary"]["unchanged"]
    assert report["flips"] == []


def test_input_retention_is_a_serve_flag(tmp_path) -> None:
    """`mlgate serve --audit-input-max-rows` bounds the replay inputs the webhook keeps; the
    decisions themselves stay."""
    from mlgate.cli.cmd_serve import _check, server_config
    from mlgate.cli.main import build_parser
    from mlgate.errors import MlgateError

    argv = ["serve", "--insecure", "--audit-db", str(tmp_path / "audit.db"),
            "--audit-input-max-rows", "1", "--audit-input-retention-days", "7",
            "--audit-prune-interval", "0.2"]  # fmt: skip
    config = server_config(build_parser("serve").parse_args(argv))
    assert (config.audit_input_max_rows, config.audit_input_retention_days) == (1, 7.0)
    assert config.audit_prune_interval_s == 0.2
    with raises_code(MlgateError, "option.not_positive"):
        _check(build_parser("serve").parse_args([*argv[:-5], "0"]))

    settings = {
        k: getattr(config, k)
        for k in ("audit_input_max_rows", "audit_input_retention_days", "audit_prune_interval_s")
    }
    client, _ = app_with(tmp_path, None, **settings)  # fmt: skip
    try:
        for name in ("a", "b", "c"):
            obj = copy.deepcopy(objects("ml-prod")["InferenceService"])
            obj["metadata"]["name"] = name
            _answer(client, review(obj, user=RELEASE))
        # Inputs are masked and stored after the acknowledgement, so wait until all three
        # have been chained and then pruned to the bound (a loaded worker may take seconds).
        db = tmp_path / "audit.db"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _inputs_chained(db) == 3 and _inputs_kept(db) == 1:
                break
            time.sleep(0.1)
    finally:
        client.__exit__(None, None, None)
    assert _inputs_chained(tmp_path / "audit.db") == 3
    assert _inputs_kept(tmp_path / "audit.db") == 1
    assert len([r for r in records(tmp_path / "audit.db") if r["type"] == "decision"]) == 3


def _inputs_chained(db: Path) -> int:
    """How many decisions' input digests the hash chain names (``replay-inputs`` records)."""
    return sum(len(r.get("digests") or {}) for r in records(db) if r["type"] == "replay-inputs")


def _inputs_kept(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT count(*) FROM replay_inputs").fetchone()[0]
