"""Renderers for ``mlgate test`` results: table, JSON and JUnit XML."""

from __future__ import annotations

import json
from pathlib import Path

from mlgate.cli.output import junit
from mlgate.cli.output.junit import JUnitCase, JUnitSuite
from mlgate.policytest.expect import format_ids
from mlgate.policytest.results import CaseResult, totals


def render_table(results: list[CaseResult], *, verbose: bool = False) -> str:
    lines = []
    for r in results:
        label = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[r.status]
        if r.status == "pass" and not verbose:
            lines.append(f"{label}  {r.name}  ({r.file}:{r.line})")
            continue
        lines.append(f"{label}  {r.name}  ({r.file}:{r.line})")
        for problem in r.problems:
            lines.append(f"        {problem}")
        if r.status == "fail" and r.kind == "case":
            a = r.actual
            lines.append(
                f"        actual: allowed={a.get('allowed')} tier={a.get('risk_tier')} "
                f"violations={format_ids(a.get('violations', []))} warnings={format_ids(a.get('warnings', []))}"
            )
            if "error" in a:
                lines.append(f"        error: {a['error'][:300]}")
    t = totals(results)
    lines.append(
        f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped "
        f"({t['cases']} policy cases, {t['rego']} Rego tests)"
    )
    return "\n".join(lines)


def render_json(results: list[CaseResult]) -> str:
    return json.dumps(
        {"summary": totals(results), "results": [r.to_dict() for r in results]}, indent=2
    )


def render_junit(results: list[CaseResult]) -> str:
    by_file: dict[str, list[CaseResult]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    suites = []
    for file, items in by_file.items():
        time = f"{sum(r.seconds for r in items):.6f}"
        suite = JUnitSuite(file, attributes={"errors": "0", "time": time})
        for r in items:
            where = {"file": file, "line": str(r.line), "time": f"{r.seconds:.6f}"}
            case = JUnitCase(r.name, Path(file).stem, attributes=where)
            if r.status == "fail":
                message = (r.problems[0] if r.problems else "failed")[:500]
                case.failure = (message, "\n".join(r.problems))
            elif r.status == "skip":
                case.skipped = r.problems[0] if r.problems else ""
            suite.cases.append(case)
        suites.append(suite)
    return junit.render(suites, name="mlgate test", totals=True)
