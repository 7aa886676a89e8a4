"""Impact report as text: table (terminal), JSON, GitHub annotations and SARIF (pull request).

The HTML form lives in ``mlgate.report.impact_html`` with the other pages."""

from __future__ import annotations

import json
from typing import Any

from mlgate.impact.compare import Group, ImpactReport
from mlgate.impact.model import ALLOW_TO_DENY, DENY_TO_ALLOW, NEW_WARNING, REASONS_CHANGED

FORMATS = ("table", "json", "html", "github", "sarif")
_SEVERITY = {ALLOW_TO_DENY: "error", REASONS_CHANGED: "warning", NEW_WARNING: "warning"}


def _groups(title: str, groups: list[Group]) -> list[str]:
    if not groups:
        return []
    lines = [f"\n{title}"]
    for g in groups:
        counts = ", ".join(f"{n} {change}" for change, n in sorted(g.counts.items()))
        lines.append(f"  {g.key:<34} {counts}")
        lines += [f"      e.g. {example}" for example in g.examples]
    return lines


def render_table(report: ImpactReport) -> str:
    s = report.summary()
    lines = [
        f"current:  {report.current['label']}  ({report.current['revision'][:19]})",
        f"proposed: {report.proposed['label']}  ({report.proposed['revision'][:19]})",
        f"replayed {s['replayed']} decision(s) from {', '.join(report.sources) or 'nothing'}; "
        f"{s['not_reproducible']} could not be reproduced exactly",
        f"  allow->deny {s['allow_to_deny']}   deny->allow {s['deny_to_allow']}   "
        f"deny reasons changed {s['deny_reasons_changed']}   new warnings {s['new_warning']}   "
        f"unchanged {s['unchanged']}",
    ]
    lines += _groups("By control:", report.by_control())
    lines += _groups("By namespace:", report.by_namespace())
    lines += _groups("By model:", report.by_model())
    if report.flips:
        lines.append("\nFlips:")
        for item in report.flips:
            detail = ", ".join(
                [f"+deny {c}" for c in item.new_denials]
                + [f"-deny {c}" for c in item.lifted_denials]
                + [f"+warn {c}" for c in item.new_warnings]
            )
            lines.append(f"  {item.change:<21} {item.ref:<28} {item.label}  {detail}")
    if report.not_reproducible:
        lines.append("\nNot reproducible (reported, not guessed):")
        for item in report.not_reproducible:
            lines.append(f"  {item.ref:<28} {item.label}: [{item.reason_code}] {item.reason}")
    lines += [f"\nnote: {n}" for n in report.notes]
    return "\n".join(lines)


def render_json(report: ImpactReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)


def _messages(report: ImpactReport) -> list[tuple[str, str, str]]:
    """(level, title, message) per flip, for annotations."""
    out = []
    for item in report.flips:
        level = _SEVERITY.get(item.change, "notice")
        title = f"mlgate impact: {item.change} {item.label}"
        parts = [f"{c} would deny: {item.proposed_messages.get(c, '')}" for c in item.new_denials]
        parts += [f"{c} would no longer deny" for c in item.lifted_denials]
        parts += [f"{c} would warn" for c in item.new_warnings]
        out.append((level, title, f"{item.ref}: " + "; ".join(parts)))
    return out


def _escape(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_github(report: ImpactReport, *, policy_file: str = "policies/controls.yaml") -> str:
    """Workflow commands: one annotation per flip on the edited policy file, plus a summary."""
    lines = []
    for level, title, message in _messages(report):
        prop = _escape(title).replace(",", "%2C").replace(":", "%3A")
        lines.append(f"::{level} file={policy_file},title={prop}::{_escape(message)}")
    s = report.summary()
    lines.append(
        f"::notice title=mlgate impact::allow->deny {s['allow_to_deny']}, deny->allow "
        f"{s['deny_to_allow']}, new warnings {s['new_warning']}, not reproducible "
        f"{s['not_reproducible']} (of {s['replayed'] + s['not_reproducible']})"
    )
    return "\n".join(lines)


def render_sarif(report: ImpactReport, *, policy_file: str = "policies/controls.yaml") -> str:
    rules = {
        change: i
        for i, change in enumerate((ALLOW_TO_DENY, DENY_TO_ALLOW, REASONS_CHANGED, NEW_WARNING))
    }
    results: list[dict[str, Any]] = []
    for item, (level, _title, message) in zip(report.flips, _messages(report), strict=True):
        if item.change not in rules:
            continue
        results.append(
            {
                "ruleId": item.change,
                "ruleIndex": rules[item.change],
                "level": level if level != "notice" else "note",
                "message": {"text": f"{item.label}: {message}"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": policy_file}}}],
                "partialFingerprints": {"mlgateImpact/v1": f"{item.ref}|{item.change}"},
            }
        )
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlgate-impact",
                        "informationUri": "https://mlgate.io/docs/compliance-officer-guide",
                        "rules": [
                            {"id": change, "shortDescription": {"text": f"decision flips {change}"}}
                            for change in rules
                        ],
                    }
                },
                "results": results,
                "properties": {"summary": report.summary()},
            }
        ],
    }
    return json.dumps(sarif, indent=2)


def render(report: ImpactReport, fmt: str) -> str:
    if fmt == "html":
        from mlgate.report.impact_html import render_impact_html

        return render_impact_html(report)
    return {
        "table": render_table,
        "json": render_json,
        "github": render_github,
        "sarif": render_sarif,
    }[fmt](report)
