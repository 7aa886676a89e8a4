"""The compliance report: one self-contained HTML file for an auditor (``mlgate report``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.policyset import PolicySet
from mlgate.report.evidence import evidence_html, thresholds
from mlgate.report.html import esc, outcome, page, table
from mlgate.report.inventory import ModelEntry
from mlgate.report.regulations import articles, counts_by_control, gaps, tests_by_control
from mlgate.timeutil import now_ns, rfc3339


@dataclass
class ReportInput:
    policy_set: PolicySet
    records: list[dict[str, Any]]  # decision records in the window
    models: list[ModelEntry]
    sources: list[str]
    window: tuple[str | None, str | None] = (None, None)
    gate_results: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    policy_tests: Path | None = None
    generated_ns: int = field(default_factory=now_ns)


def _controls_cell(article_controls: list[Any]) -> str:
    return "<br>".join(
        f"<code>{esc(c.id)}</code> {esc(c.title)} <span class=muted>({esc(c.enforcement)})</span>"
        for c in sorted(article_controls, key=lambda c: c.id)
    )


def _tests_cell(controls: list[Any], tests: dict[str, list[str]]) -> str:
    names = sorted({t for c in controls for t in tests.get(c.id, [])})
    if not names:
        return '<span class="warn">no policy test</span>'
    shown = "<br>".join(esc(n) for n in names[:3])
    more = f'<br><span class="muted">and {len(names) - 3} more</span>' if len(names) > 3 else ""
    return f"{len(names)} test(s)<br>{shown}{more}"


def regulations_section(data: ReportInput) -> str:
    all_articles = articles(data.policy_set.catalogue)
    tests = tests_by_control(data.policy_tests)
    denied, warned = counts_by_control(data.records)
    parts = [_open("regulations", "Regulations, controls and enforcement")]
    parts.append(
        '<p class="muted">Every article the controls catalogue cites, and every article of the '
        "reference list, mapped to its controls, the policy tests that check them and how often "
        "each control denied or warned in the window. Rows marked <strong>gap</strong> have no "
        "control: they are not enforced at admission.</p>"
    )
    regulations = sorted({a.regulation for a in all_articles}, key=_regulation_order)
    for regulation in regulations:
        rows = []
        for a in (a for a in all_articles if a.regulation == regulation):
            if not a.controls:
                rows.append(
                    [
                        f"<strong>{esc(a.label)}</strong>",
                        esc(a.title),
                        '<span class="deny">gap: no control</span>',
                        "",
                        "",
                        "",
                    ]
                )
                continue
            rows.append(
                [
                    f"<strong>{esc(a.label)}</strong><br><span class=muted>"
                    f"{esc(', '.join(sorted(a.citations)))}</span>",
                    esc(a.title),
                    _controls_cell(a.controls),
                    _tests_cell(a.controls, tests),
                    str(sum(denied[c.id] for c in a.controls)),
                    str(sum(warned[c.id] for c in a.controls)),
                ]
            )
        parts.append(f"<h3>{esc(regulation)}</h3>")
        parts.append(
            table(
                ["Article", "Title", "Controls", "Policy tests", "Denied", "Warned"],
                rows,
                numeric=(4, 5),
                table_id=f"reg-{_slug(regulation)}",
            )
        )
    missing = gaps(all_articles)
    parts.append('<h3 id="gaps">Gaps</h3>')
    parts.append(
        "<p>"
        + (
            ", ".join(esc(a.label) for a in missing)
            if missing
            else "No article of the reference list lacks a control."
        )
        + "</p>"
    )
    parts.append("</section>")
    return "".join(parts)


def _open(section_id: str, title: str) -> str:
    return f'<section id="{section_id}" aria-labelledby="{section_id}-h"><h2 id="{section_id}-h">{esc(title)}</h2>'


def _regulation_order(name: str) -> tuple[int, str]:
    return ({"EU AI Act": 0, "GDPR": 1}.get(name, 2), name)


def _slug(text: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "-" for ch in text).strip("-")


def inventory_rows(models: list[ModelEntry], at_ns: int) -> list[list[str]]:
    rows = []
    for m in models:
        age = m.attestation_age_days(at_ns)
        rows.append(
            [
                f"<strong>{esc(m.model)}</strong><br><span class=muted>{esc(m.kind)}/"
                f"{esc(m.name)}</span>",
                esc(m.namespace),
                esc(m.tier),
                esc(m.environment),
                _short(m.signer) if m.signer else '<span class="warn">not verified</span>',
                f"{age:.0f} d" if age is not None else '<span class="muted">none</span>',
                f"{outcome(m.allowed)}<br><span class=muted>{esc(m.last_decision[:19])}Z</span>",
                "<br>".join(
                    f"{esc(e['id'])} ({esc(e['control'])}) until {esc(e['expires'])}"
                    for e in m.exemptions
                )
                or '<span class="muted">none</span>',
                _violations(m.open_violations, m.warnings),
            ]
        )
    return rows


def _short(identity: str) -> str:
    """A key fingerprint is long: its start identifies it, the title attribute holds it all."""
    shown = identity if len(identity) <= 40 else identity[:19] + "\u2026"
    return f'<span title="{esc(identity)}">{esc(shown)}</span>'


def _violations(denied: list[str], warned: list[str], limit: int = 4) -> str:
    if not denied and not warned:
        return '<span class="muted">none</span>'
    items = [f'<code class="deny">{esc(c)}</code>' for c in denied]
    items += [f'<code class="warn">{esc(c)}</code> (warn)' for c in warned]
    more = len(items) - limit
    shown = ", ".join(items[:limit])
    return f"{len(denied)} denied, {len(warned)} warned: {shown}" + (
        f" <span class=muted>and {more} more</span>" if more > 0 else ""
    )


INVENTORY_HEADERS = [
    "Model",
    "Namespace",
    "Tier",
    "Environment",
    "Signer",
    "Attestation age",
    "Last decision",
    "Active exemptions",
    "Open violations",
]


def inventory_section(data: ReportInput) -> str:
    return (
        _open("inventory", "Model inventory")
        + f'<p class="muted">Every model seen ({esc("; ".join(data.sources))}), at its latest '
        "decision. Open violations are that decision's denials and warnings.</p>"
        + table(
            INVENTORY_HEADERS,
            inventory_rows(data.models, data.generated_ns),
            table_id="inventory-table",
            wide=(8,),
        )
        + "</section>"
    )


def evidence_section(data: ReportInput) -> str:
    parts = [_open("evidence", "Promotion evidence")]
    shown = 0
    seen: set[str] = set()
    for m in data.models:
        fingerprint = json.dumps([m.model, m.tier, m.evidence], sort_keys=True)
        if not m.evidence or fingerprint in seen:  # one model deployed twice: chart it once
            continue
        seen.add(fingerprint)
        charts = evidence_html(m.evidence, thresholds(data.policy_set, m.tier, m.environment))
        if charts:
            shown += 1
            parts.append(
                f"<h3>{esc(m.model)} <span class=muted>({esc(m.namespace)}, tier {esc(m.tier)}, "
                f"attested evaluation)</span></h3>{charts}"
            )
    for label, evaluation in data.gate_results:
        charts = evidence_html(evaluation, thresholds(data.policy_set, "high", "production"))
        if charts:
            shown += 1
            parts.append(f"<h3>{esc(label)} <span class=muted>(gate result)</span></h3>{charts}")
    if not shown:
        parts.append("<p>No model in the window carries promotion evidence.</p>")
    parts.append("</section>")
    return "".join(parts)


def render_report(data: ReportInput) -> str:
    since, until = data.window
    denials = sum(1 for r in data.records if not r.get("allowed"))
    warnings = sum(1 for r in data.records if r.get("warned"))
    missing = len(gaps(articles(data.policy_set.catalogue)))
    subtitle = (
        f"Policy revision <code>{esc(data.policy_set.revision)}</code> &middot; generated "
        f"{esc(rfc3339(data.generated_ns))} &middot; window {esc(since or 'start of log')} to "
        f"{esc(until or 'now')}"
    )
    summary = (
        '<div class="box" id="summary"><strong>Summary.</strong> '
        f"{len(data.records)} decision(s) in the window: {denials} denied, {warnings} with "
        f"warnings. {len(data.models)} model(s) in the inventory. "
        f"{len(data.policy_set.catalogue)} controls; {missing} reference article(s) without a "
        f"control. Sources: {esc('; '.join(data.sources))}.</div>"
    )
    body = summary + regulations_section(data) + inventory_section(data) + evidence_section(data)
    return page("mlgate compliance report", body, subtitle=subtitle)
