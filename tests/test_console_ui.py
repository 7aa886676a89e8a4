"""The console in a real headless Chromium, used the way a compliance officer uses it:
sign in, navigate, filter, read tables that must match the decision log, and check the
accessibility basics. Screenshots of every page go to build/test-output/ui (MLGATE_UI_OUT)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from console_fixtures import DAY_NS, DEPLOYER, build_audit_db, stricter_policies
from console_ui_support import (
    accessibility_problems,
    foreign_assets,
    require_browser,
    screenshot,
    start_browser,
)
from mlgate.audit import AuditStore
from mlgate.timeutil import now_ns

# Session-scoped fixtures: xdist interleaves other modules' tests with these on a worker, and a
# module-scoped fixture would be built again after each interleaving (once per worker is enough).

TOKEN = "ui-test-console-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_console(db, certs, token, proposed, context):
    """(process, base URL) once /healthz answers; (None, output) if it exited or timed out."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlgate.cli.main", "console", "--audit-db", str(db), "--port", str(port),
         "--cert", str(certs / "tls.crt"), "--key", str(certs / "tls.key"), "--token-file", str(token),
         "--proposed", str(proposed)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", context=context, timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                return None, proc.stdout.read().decode()[-2000:]
            time.sleep(0.2)


@pytest.fixture(scope="session")
def console(tmp_path_factory):
    require_browser()
    work = tmp_path_factory.mktemp("console-ui")
    db = build_audit_db(work / "audit.db")
    proposed = stricter_policies(work / "proposed")
    certs = work / "certs"
    subprocess.run(
        [sys.executable, "-m", "mlgate.cli.main", "certs", "--out", str(certs)],
        check=True,
        capture_output=True,
    )
    (work / "token").write_text(TOKEN)
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    # The port is free when picked but may be taken before the server binds it (other test
    # runs share the machine): try again on another one.
    for _attempt in range(3):
        proc, base = _start_console(db, certs, work / "token", proposed, context)
        if proc is not None:
            break
    else:
        pytest.fail(f"console did not start: {base}")
    yield {"base": base, "db": db, "cert": certs / "tls.crt", "proposed": proposed}
    proc.terminate()
    proc.wait(10)


def _sign_in(driver, base: str, token: str) -> None:
    By = _by()
    driver.get(base + "/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button").click()


@pytest.fixture(scope="session")
def browser(console):
    """Signed in: xdist may run any test of this module first, on either worker."""
    driver = start_browser(pinned_cert=console["cert"])
    _sign_in(driver, console["base"], TOKEN)
    _wait_url(driver, "/models")
    yield driver
    driver.quit()


def _by():
    from selenium.webdriver.common.by import By

    return By


def _wait_url(driver, suffix: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(lambda d: d.current_url.split("?")[0].endswith(suffix))


def _table(driver, table_id: str) -> list[list[str]]:
    By = _by()
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def _check_page(driver, name: str) -> None:
    assert accessibility_problems(driver) == []
    assert foreign_assets(driver) == []
    assert driver.execute_script("return document.scripts.length") == 0
    assert DEPLOYER not in driver.page_source
    screenshot(driver, name)


def test_sign_in(console, browser) -> None:
    By = _by()
    browser.delete_all_cookies()  # signed out
    browser.get(console["base"] + "/decisions")
    assert browser.current_url.endswith("/login")  # not signed in: sent to the login form
    _check_page(browser, "console-01-login")
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    assert "not valid" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    _wait_url(browser, "/models")
    assert browser.find_element(By.TAG_NAME, "h2").text == "Models"


def _audit_rows(
    db: Path, *, namespace: str = "", outcome: str = "any", since_ns: int | None = None
) -> list[int]:
    store = AuditStore(db, create=False)
    try:
        seqs = [
            r.seq
            for r in store.records(since_ns=since_ns, types=("decision",))
            if (not namespace or r.body["namespace"] == namespace)
            and (outcome == "any" or (outcome == "denied") != r.body["allowed"])
        ]
    finally:
        store.close()
    return sorted(seqs, reverse=True)


def test_navigate_every_page(console, browser) -> None:
    By = _by()
    browser.get(console["base"] + "/models")
    for label, name in (("Models", "models"), ("Decisions", "decisions"), ("Controls", "controls"),
                        ("Exemptions", "exemptions"), ("Impact", "impact")):  # fmt: skip
        browser.find_element(By.LINK_TEXT, label).click()
        _wait_url(browser, f"/{name}")
        assert browser.find_element(By.CSS_SELECTOR, "nav [aria-current=page]").text == label
        assert browser.find_element(By.TAG_NAME, "h2").text.startswith(
            label if label != "Impact" else "Impact"
        )
        _check_page(browser, f"console-02-{name}")


def test_decisions_table_matches_the_audit_log(console, browser) -> None:
    browser.get(console["base"] + "/decisions")
    shown = [int(row[0]) for row in _table(browser, "decisions-table")]
    assert shown == _audit_rows(console["db"])
    store = AuditStore(console["db"], create=False)
    try:
        by_seq = {r.seq: r.body for r in store.records(types=("decision",))}
    finally:
        store.close()
    for row in _table(browser, "decisions-table"):
        body = by_seq[int(row[0])]
        assert row[2] == ("allowed" if body["allowed"] else "denied")
        assert (row[3], row[4], row[5]) == (body["kind"], body["namespace"], body["name"])
        assert row[6] == body["user"]  # the masked form the log holds
        assert row[7] == ", ".join(body["controls"])
    assert any(row[6].startswith("hmac:") for row in _table(browser, "decisions-table"))


def test_filter_decisions(console, browser) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    By = _by()
    browser.get(console["base"] + "/decisions")
    Select(browser.find_element(By.ID, "namespace")).select_by_value("lending-prod")
    Select(browser.find_element(By.ID, "outcome")).select_by_value("denied")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait_url(browser, "/decisions")
    WebDriverWait(browser, 15).until(lambda d: "outcome=denied" in d.current_url)
    assert "namespace=lending-prod" in browser.current_url
    shown = [int(row[0]) for row in _table(browser, "decisions-table")]
    expected = _audit_rows(console["db"], namespace="lending-prod", outcome="denied")
    assert shown == expected and expected
    _check_page(browser, "console-03-decisions-filtered")
    # Time: the manifests were recorded 10 days ago, the objects today.
    browser.get(console["base"] + "/decisions?since=7d")
    recent = [int(row[0]) for row in _table(browser, "decisions-table")]
    assert recent == _audit_rows(console["db"], since_ns=now_ns() - 7 * DAY_NS)
    assert 0 < len(recent) < len(_audit_rows(console["db"]))
    # A control filter keeps only the decisions that control denied or warned.
    browser.get(console["base"] + "/decisions?control=SC-SIGNED")
    assert all("SC-SIGNED" in row[7] + row[8] for row in _table(browser, "decisions-table"))
    # Opening a decision shows its findings.
    link = browser.find_element(By.CSS_SELECTOR, "#decisions-table tbody tr td a")
    seq = link.text
    link.click()
    _wait_url(browser, f"/decisions/{seq}")
    assert browser.find_element(By.TAG_NAME, "h2").text.startswith("Decision ")
    assert _table(browser, "decision-findings")
    _check_page(browser, "console-04-decision-detail")


def test_controls_and_exemptions_match_the_policy_files(console, browser) -> None:
    from mlgate.policyset import load_policy_set

    policy_set = load_policy_set(Path(__file__).resolve().parents[1] / "policies")
    browser.get(console["base"] + "/controls")
    rows = _table(browser, "controls-table")
    assert [r[0] for r in rows] == list(policy_set.catalogue.controls)
    by_id = {r[0]: r for r in rows}
    for control in policy_set.catalogue.controls.values():
        assert by_id[control.id][3].split("\n") == list(control.regulations)
    assert "psi_deny" in by_id["GATE-DRIFT"][6] or by_id["GATE-DRIFT"][6]
    browser.get(console["base"] + "/exemptions")
    rows = _table(browser, "exemptions-table")
    assert sorted(r[0] for r in rows) == sorted(e.id for e in policy_set.exemptions)
    assert any(r[4].startswith("expired") for r in rows)  # EX-2026-003 ran out on 2026-06-30
    assert all("@bank.example" not in r[5] for r in rows)


def test_impact_view_matches_a_replay(console, browser, capsys) -> None:
    from mlgate.cli.main import main

    main(
        [
            "impact",
            "--proposed",
            str(console["proposed"]),
            "--audit-db",
            str(console["db"]),
            "--since",
            "30d",
            "-o",
            "json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    browser.get(console["base"] + "/impact")
    rows = _table(browser, "impact-flips")
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (f["change"], f["ref"]) for f in report["flips"]
    )
    assert any(r[0] == "allow->deny" for r in rows)
    screenshot(browser, "console-05-impact")
