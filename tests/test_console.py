"""The console's contract without a browser: auth, read-only, headers, bad input, masking."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import POLICIES
from console_fixtures import DEPLOYER, build_audit_db
from error_codes import cli_error
from mlgate.console.app import ConsoleConfig, create_app

TOKEN = "console-token-for-tests-0123456789"
PAGES = ("/models", "/decisions", "/controls", "/exemptions", "/impact")


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    db = build_audit_db(tmp_path_factory.mktemp("console") / "audit.db")
    app = create_app(ConsoleConfig(audit_db=db, policy_dir=POLICIES, token=TOKEN))
    return TestClient(app, base_url="https://testserver")


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_authentication(client, path: str) -> None:
    assert client.get(path, follow_redirects=False).headers["location"] == "/login"
    wrong = client.get(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "Bearer" in wrong.headers["www-authenticate"]
    ok = client.get(path, headers=_auth())
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_self_contained_and_hardened(client, path: str) -> None:
    response = client.get(path, headers=_auth())
    assert "<script" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert DEPLOYER not in response.text  # personal data only as the log masks it


def test_login_sets_a_session_cookie_not_the_token(client) -> None:
    bad = client.post(
        "/login",
        content="token=wrong",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert bad.status_code == 401
    good = client.post(
        "/login", content=f"token={TOKEN}", headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )  # fmt: skip
    assert good.status_code == 303 and good.headers["location"] == "/models"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert TOKEN not in cookie
    assert client.post("/login", content="x" * 5000).status_code == 413


def test_read_only(client) -> None:
    for method in ("put", "delete", "patch"):
        assert getattr(client, method)("/decisions", headers=_auth()).status_code in (401, 405)
    assert client.post("/decisions", headers=_auth()).status_code == 405


def test_bad_filters_are_clear_errors_not_500(client) -> None:
    for query in ("since=yesterday", "outcome=maybe", "until=2999-01-01"):
        response = client.get(f"/decisions?{query}", headers=_auth())
        assert response.status_code == 400 and 'role="alert"' in response.text
    assert client.get("/decisions/999999", headers=_auth()).status_code == 404
    assert client.get("/decisions/abc", headers=_auth()).status_code == 422


def test_console_refuses_the_admission_port_and_needs_auth(tmp_path, capsys) -> None:
    db = tmp_path / "a.db"
    db.touch()
    base = ["console", "--audit-db", str(db), "--insecure"]
    for argv, code in (
        ([*base, "--port", "8443", "--token-file", "x"], "console.webhook_port"),
        ([*base, "--port", "9000"], "console.no_auth"),
        ([*base, "--host", "0.0.0.0", "--token-file", "x"], "console.not_loopback"),
    ):
        assert cli_error(argv).code == code, argv


def test_console_app_has_no_admission_route(client) -> None:
    paths = {getattr(r, "path", "") for r in client.app.routes}
    assert "/validate" not in paths and "/models" in paths
