"""Issue 16: a typo in params.yaml cannot reach a running webhook. The server keeps its last
good policy set, and reports the error (file:line and the suggestion) on /readyz and in the
reload-failure metric."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from webhook_support import REPO, Server, issue_certs, metric_value, objects, review, wait_for


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issue_certs(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    psi_deny: 0.25 ", "    psi_dney: 0.25 ", "did you mean 'psi_deny'?"),
        ("    min: {accuracy: 0.70}\n    max: {}", "    min: {acuracy: 0.70}\n    max: {}",
         "did you mean 'accuracy'?"),
    ],
)  # fmt: skip
def test_a_typo_never_reaches_the_running_webhook(
    tmp_path: Path, certs: Path, old: str, new: str, message: str
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    params = policies / "params.yaml"
    srv = Server(tmp_path / "srv", certs, args=["--policies", str(policies)]).start()
    try:
        with srv.client() as c:
            good = c.get("/readyz").json()["revision"]
            doc = review(objects("ml-prod")["InferenceService"])
            before = srv.validate(doc).json()["response"]
            text = params.read_text()
            line = text[: text.index(old)].count("\n") + 1
            params.write_text(text.replace(old, new))
            ready = wait_for(lambda: (r := c.get("/readyz").json())["last_reload_error"] and r)
            assert ready["revision"] == good  # the last good set is still enforced
            assert f"params.yaml:{line}: " in ready["last_reload_error"]
            assert message in ready["last_reload_error"]
            assert metric_value(srv.metrics(), "mlgate_policy_reload_failures_total") >= 1
            after = srv.validate(doc).json()["response"]
            assert after["allowed"] == before["allowed"]
            assert after["auditAnnotations"]["policy-revision"] == good
    finally:
        srv.stop()
