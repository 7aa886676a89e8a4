"""Renderers for ``mlgate test`` results: table, JSON and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

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
    root = ET.Element("testsuites", name="mlgate test")
    by_file: dict[str, list[CaseResult]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    for file, items in by_file.items():
        t = totals(items)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=file,
            tests=str(t["total"]),
            failures=str(t["failed"]),
            errors="0",
            skipped=str(t["skipped"]),
            time=f"{sum(r.seconds for r in items):.6f}",
        )
        for r in items:
            case = ET.SubElement(
                suite,
                "testcase",
                name=r.name,
                classname=Path(file).stem,
                file=file,
                line=str(r.line),
                time=f"{r.seconds:.6f}",
            )
            if r.status == "fail":
                failure = ET.SubElement(
                    case, "failure", message=(r.problems[0] if r.problems else "failed")[:500]
                )
                failure.text = "\n".join(r.problems)
            elif r.status == "skip":
                ET.SubElement(case, "skipped", message=(r.problems[0] if r.problems else ""))
    t = totals(results)
    root.set("tests", str(t["total"]))
    root.set("failures", str(t["failed"]))
    root.set("skipped", str(t["skipped"]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
