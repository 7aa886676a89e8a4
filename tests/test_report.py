"""mlgate report: one self-contained, printable HTML file that matches the policy files and
the decision log; rendered in a real Chromium (screenshot and PDF into the test output)."""

from __future__ import annotations

import base64
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import EXAMPLES, POLICIES
from console_fixtures import DEPLOYER, build_audit_db
from console_ui_support import (
    SCREENSHOTS,
    accessibility_problems,
    foreign_assets,
    screenshot,
    start_browser,
)
from error_codes import cli_error
from mlgate.audit import AuditStore
from mlgate.cli.main import main
from mlgate.policyset import load_policy_set
from mlgate.report.articles import REFERENCE_ARTICLES
from mlgate.report.regulations import articles, parse_citation


class _Tables(HTMLParser):
    """Rows of each table by id, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def audit_db(tmp_path_factory) -> Path:
    return build_audit_db(tmp_path_factory.mktemp("report") / "audit.db")


@pytest.fixture(scope="module")
def report(audit_db, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report-out") / "report.html"
    assert main(["report", "--audit-db", str(audit_db), "--out", str(out)]) == 0
    return out, out.read_text()


def test_self_contained_and_tied_to_the_policy_revision(report) -> None:
    _, html = report
    assert "<script" not in html and "<link" not in html
    urls = set(re.findall(r"""(?:src|href)=["']?(https?:[^"' >]+)""", html))
    assert urls == set()
    assert load_policy_set(POLICIES).revision in html
    assert re.search(r"generated \d{4}-\d\d-\d\dT", html)
    assert DEPLOYER not in html


def test_every_cited_article_maps_to_its_controls_and_gaps_are_listed(report) -> None:
    _, html = report
    catalogue = load_policy_set(POLICIES).catalogue
    tables = _Tables()
    tables.feed(html)
    rows = tables.tables["reg-eu-ai-act"] + tables.tables["reg-gdpr"]
    by_article = {r[0].split("\n")[0]: r for r in rows}
    for control in catalogue.controls.values():
        for citation in control.regulations:
            parsed = parse_citation(citation)
            if parsed is None or parsed[0] not in ("EU AI Act", "GDPR"):
                continue
            label = f"{parsed[0]} {'' if parsed[1].startswith('Annex') else 'Art. '}{parsed[1]}"
            assert control.id in by_article[label][2], f"{control.id} missing under {label}"
    cited = {parse_citation(c) for ctl in catalogue.controls.values() for c in ctl.regulations}
    gaps = [(reg, num) for reg, num, _ in REFERENCE_ARTICLES if (reg, num) not in cited]
    assert gaps, "the reference list must find something the catalogue does not cover"
    for reg, num in gaps:
        assert "gap: no control" in by_article[f"{reg} Art. {num}"][2]
    assert len(articles(catalogue)) >= len(by_article)


def test_counts_match_the_audit_log(report, audit_db) -> None:
    _, html = report
    catalogue = load_policy_set(POLICIES).catalogue
    store = AuditStore(audit_db, create=False)
    denied: Counter[str] = Counter()
    try:
        for record in store.records(types=("decision",)):
            denied.update(record.body["controls"])
    finally:
        store.close()
    tables = _Tables()
    tables.feed(html)
    # Art. 15 (signed, pinned artefacts) is what the example objects are denied for; card
    # controls fold into MLGATE-NEEDS-ATTESTATION when no trusted card exists.
    art15 = next(
        r for r in tables.tables["reg-eu-ai-act"] if r[0].startswith("EU AI Act Art. 15\n")
    )
    controls = [
        c
        for c in catalogue.controls.values()
        if any(parse_citation(x) == ("EU AI Act", "15") for x in c.regulations)
    ]
    assert int(art15[4]) == sum(denied[c.id] for c in controls) > 0
    inventory = tables.tables["inventory-table"]
    names = {(r[1], r[0].split("\n")[1]) for r in inventory}
    store = AuditStore(audit_db, create=False)
    try:
        seen = {
            (r.body["namespace"], f"{r.body['kind']}/{r.body['name']}")
            for r in store.records(types=("decision",))
        }
    finally:
        store.close()
    assert names == seen
    assert "policy test" in html and "test(s)" in html


def test_evidence_charts(report) -> None:
    _, html = report
    assert html.count('role="img"') >= 6  # PSI, selection rate, metrics for two models
    assert "four-fifths line" in html and "Population stability index" in html
    assert "confidence interval" in html


def test_report_and_gate_page_render_and_print_in_chromium(report, tmp_path, capsys) -> None:
    path, _ = report
    driver = start_browser()
    try:
        driver.get(path.as_uri())
        assert driver.find_element("tag name", "h1").text == "mlgate compliance report"
        assert accessibility_problems(driver) == []
        assert foreign_assets(driver) == []
        screenshot(driver, "report-compliance")
        pdf = base64.b64decode(
            driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"]
        )
        assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") + pdf.count(b"/Type/Page") > 2
        (SCREENSHOTS / "report-compliance.pdf").write_bytes(pdf)
        gate = tmp_path / "gate.html"
        code = main(["gate", "--reference", str(EXAMPLES / "data" / "reference.csv"),
                     "--current", str(EXAMPLES / "data" / "current-drifted.csv"), "--label", "label",
                     "--prediction", "prediction", "--score", "score", "--group", "sex",
                     "--bootstrap", "50", "--risk-tier", "high", "-o", "html"])  # fmt: skip
        gate.write_text(capsys.readouterr().out)
        assert code == 1
        driver.get(gate.as_uri())
        assert accessibility_problems(driver) == []
        assert len(driver.find_elements("css selector", "svg[role=img]")) == 3
        screenshot(driver, "report-gate")
    finally:
        driver.quit()


def test_report_needs_a_source_and_names_bad_files(tmp_path, capsys) -> None:
    assert (
        cli_error(["report", "--out", str(tmp_path / "r.html")]).code == "report.nothing_to_report"
    )
    bad = tmp_path / "gate.json"
    bad.write_text("[1, 2")
    err = cli_error(["report", "--gate", str(bad), "--out", str(tmp_path / "r.html")])
    assert (err.code, err.location) == ("report.unreadable_gate", str(bad))
