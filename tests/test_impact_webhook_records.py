"""`mlgate impact` on decisions the real webhook recorded: evaluated decisions replay (and
agree with the recorded outcome); refusals, housekeeping UPDATEs and system failures are
reported as not reproducible, each with its reason code, never guessed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from conftest import POLICIES
from mlgate.cli.main import main
from test_webhook_app import StubEngine, app_with, records
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
