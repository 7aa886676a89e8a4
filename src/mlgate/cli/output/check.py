"""``mlgate check`` and ``mlgate scan`` results: table, json, junit, sarif, github (as Conftest's)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlgate.cli import skipped as skip
from mlgate.cli.output import junit
from mlgate.cli.output.findings import finding_lines
from mlgate.cli.output.junit import JUnitCase, JUnitSuite
from mlgate.cli.skipped import Skipped
from mlgate.decision import Decision, Violation

FORMATS = ("table", "json", "junit", "sarif", "github")


@dataclass
class CheckResult:
    file: str
    document: int
    line: int
    kind: str
    name: str
    decision: Decision

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def render(
    results: list[CheckResult],
    fmt: str,
    *,
    color: bool = False,
    verbose: bool = False,
    skipped: tuple[Skipped, ...] | list[Skipped] = (),
) -> str:
    if fmt == "json":
        return render_json(results, verbose=verbose, skipped=tuple(skipped))
    return {
        "table": render_table,
        "junit": render_junit,
        "sarif": render_sarif,
        "github": render_github,
    }[fmt](results, color=color, skipped=tuple(skipped))


def _summary(results: list[CheckResult], skipped: tuple[Skipped, ...] = ()) -> dict[str, int]:
    denied = sum(not r.decision.allowed for r in results)
    return {
        "objects": len(results),
        "evaluated": len(results),
        "skipped": len(skipped),
        "allowed": len(results) - denied,
        "denied": denied,
        "warnings": sum(len(r.decision.warnings) for r in results),
    }


def render_table(
    results: list[CheckResult], *, color: bool = False, skipped: tuple[Skipped, ...] = ()
) -> str:
    red, green, dim, reset = ("\033[31m", "\033[32m", "\033[2m", "\033[0m") if color else ("",) * 4
    lines: list[str] = []
    for r in results:
        d = r.decision
        verdict = f"{green}ALLOWED{reset}" if d.allowed else f"{red}DENIED{reset}"
        env = d.subject.get("environment", "")
        lines.append(
            f"{verdict}  {r.label}  ({r.file}:{r.line}, tier {d.risk_tier}, env {env}, "
            f"decision {d.decision_id[:12]})"
        )
        lines += finding_lines(d, color=color)
    lines += skip.table_lines(skipped, dim, reset)
    s = _summary(results, skipped)
    lines.append(
        f"\n{skip.totals_line(s['evaluated'], s['skipped'])}; "
        f"{s['allowed']} allowed, {s['denied']} denied, {s['warnings']} warning(s)"
    )
    return "\n".join(lines)


def _finding(v: Violation) -> dict[str, Any]:
    """What varies per object. The control's title, severity, regulations and fix are the
    same for every object, so they are listed once, under ``controls``; the enforcement is
    the list the finding is in (violations deny, warnings warn, audits record)."""
    out = {"control": v.control, "message": v.message}
    if v.path:
        out["path"] = v.path
    return out


def _reader_decision(d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {
        "allowed": d.allowed,
        "decision_id": d.decision_id,
        "risk_tier": d.risk_tier,
        "subject": d.subject,
        "violations": [_finding(v) for v in d.violations],
        "warnings": [_finding(v) for v in d.warnings],
        "audits": [_finding(v) for v in d.audits],
        "exemptions": [
            {"id": e.id, "control": e.control, "approver": e.approver, "expires": e.expires}
            for e in d.exemptions
        ],
        "policy_revision": d.policy_revision,
    }
    if d.notes:
        out["notes"] = list(d.notes)
    if d.dry_run:
        out["dry_run"] = True
    return out


def _controls(results: list[CheckResult]) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in results:
        d = r.decision
        for v in (*d.violations, *d.warnings, *d.audits):
            if v.control not in seen:
                seen[v.control] = {
                    "title": v.title,
                    "severity": v.severity,
                    "regulations": v.regulations,
                    "remediation": v.remediation,
                }
    return dict(sorted(seen.items()))


def render_json(
    results: list[CheckResult], *, verbose: bool = False, skipped: tuple[Skipped, ...] = ()
) -> str:
    """One result per line: a 5,000-object run stays greppable and a tenth of the size of
    indented JSON. ``verbose`` gives each decision in full (the decision contract)."""
    rows = [
        json.dumps(
            {
                "file": r.file,
                "document": r.document,
                "line": r.line,
                "kind": r.kind,
                "name": r.name,
                "decision": r.decision.to_dict() if verbose else _reader_decision(r.decision),
            },
            ensure_ascii=False,
        )
        for r in results
    ]
    listed = {"skipped": [item.to_dict() for item in skipped]}
    tail = (
        {**listed, "summary": _summary(results, skipped)}
        if verbose
        else {
            "controls": _controls(results),
            **listed,
            "summary": _summary(results, skipped),
        }
    )
    body = ",\n".join(rows)
    rest = json.dumps(tail, ensure_ascii=False, indent=1)[1:-1].strip()
    return '{"results": [\n' + body + "\n],\n" + rest + "\n}"


def render_junit(
    results: list[CheckResult], *, color: bool = False, skipped: tuple[Skipped, ...] = ()
) -> str:
    suite = JUnitSuite("mlgate check")
    for r in results:
        case = JUnitCase(r.label, r.file)
        if not r.decision.allowed:
            text = "\n".join(
                f"{v.control}: {v.message} ({', '.join(v.regulations)}). Fix: {v.remediation}"
                for v in r.decision.violations
            )
            case.failure = (", ".join(r.decision.denied_controls), text)
            case.failure_type = "denied"
        if r.decision.warnings:
            case.output = "\n".join(f"warn {v.control}: {v.message}" for v in r.decision.warnings)
        suite.cases.append(case)
    suite.cases += [JUnitCase(item.label, item.file, skipped=item.reason) for item in skipped]
    return junit.render([suite])


_SARIF_LEVEL = {"deny": "error", "warn": "warning", "audit": "note"}


def render_sarif(
    results: list[CheckResult], *, color: bool = False, skipped: tuple[Skipped, ...] = ()
) -> str:
    rules: dict[str, dict[str, Any]] = {}
    sarif_results = []
    for r in results:
        for v in [*r.decision.violations, *r.decision.warnings, *r.decision.audits]:
            rules.setdefault(
                v.control,
                {
                    "id": v.control,
                    "name": v.control,
                    "shortDescription": {"text": v.title or v.control},
                    "help": {"text": f"{v.remediation} ({', '.join(v.regulations)})"},
                    "properties": {"severity": v.severity, "regulations": v.regulations},
                },
            )
            sarif_results.append(
                {
                    "ruleId": v.control,
                    "level": _SARIF_LEVEL.get(v.enforcement, "warning"),
                    "message": {"text": f"{r.label}: {v.message}. Fix: {v.remediation}"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": r.file},
                                "region": {"startLine": max(r.line, 1)},
                            }
                        }
                    ],
                }
            )
    return json.dumps(
        {
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "mlgate",
                            "informationUri": "https://mlgate.io",
                            "rules": list(rules.values()) + ([skip.SARIF_RULE] if skipped else []),
                        }
                    },
                    "results": sarif_results + skip.sarif_results(skipped),
                }
            ],
        },
        indent=2,
    )


def _gh_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_github(
    results: list[CheckResult], *, color: bool = False, skipped: tuple[Skipped, ...] = ()
) -> str:
    lines = []
    for r in results:
        for v in r.decision.violations:
            lines.append(
                f"::error file={r.file},line={r.line},title={v.control}::"
                + _gh_escape(f"{r.label}: {v.message}. Fix: {v.remediation}")
            )
        for v in r.decision.warnings:
            lines.append(
                f"::warning file={r.file},line={r.line},title={v.control}::"
                + _gh_escape(f"{r.label}: {v.message}")
            )
    for item in skipped:
        lines.append(
            f"::notice file={item.file},line={item.line},title=skipped::"
            + _gh_escape(f"{item.label}: {item.reason}")
        )
    s = _summary(results, skipped)
    lines.append(
        f"mlgate: {skip.totals_line(s['evaluated'], s['skipped'])}; "
        f"{s['allowed']} allowed, {s['denied']} denied"
    )
    return "\n".join(lines)
