"""Policy tests: YAML cases (canonical input -> expected decision) and Rego ``test_`` rules.

A suite is a directory (``policy-tests/`` by default)::

    policy-tests/
      bases/compliant-high-production.yaml    full canonical inputs (schemas/input.schema.json)
      supply-chain.yaml                       cases that change one fact of a base each

A case file::

    base: compliant-high-production          # default base for the cases below (optional)
    cases:
      - name: unsigned model is denied in production
        base: compliant-high-production      # a file in bases/ (name without .yaml) or a path
        now: "2026-12-24T12:00:00Z"          # optional: sets context.now_ns
        set: {signature.present: false}      # dotted path or JSON pointer -> value
        unset: [card.governance.sbom_ref]    # paths to remove
        expect:
          allowed: false
          violations: [SC-SIGNED]            # must be denied (others may be too)
          warnings: []                       # must be warnings
          audits: []                         # must be recorded for audit only
          exemptions: []                     # controls (or exemption ids) that were exempted
          not_violations: [SC-SBOM]          # must not be denied
          absent: [GATE-FREEZE]              # must not appear at all
          risk_tier: high
          messages: {SC-SIGNED: "not signed"}  # a finding of that control contains the text
          exact: false                       # true: violations/warnings/audits are the full sets

Every case runs through the real :class:`mlgate.engine.Engine` with input validation on, so a
case sees exactly what the webhook and ``mlgate check`` would decide. Rego ``test_`` rules
in ``*_test.rego`` modules are run on the embedded engine in a separate worker process (a
rego-cpp crash becomes a failed test, not a crashed command). rego-cpp crashes on ``with``,
so modules that use ``with input``/``with data`` are reported as skipped there; ``opa test``
runs them.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from mlgate.errors import InputError
from mlgate.policyset.yamlfile import LineMap, load_data_file, load_yaml_file, pointer_of
from mlgate.timeutil import to_ns

ID_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

CASE_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["cases"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "mlgate.io/v1"},
        "kind": {"const": "PolicyTests"},
        "description": {"type": "string"},
        "base": {"type": "string", "minLength": 1},
        "cases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "expect"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "base": {"type": "string", "minLength": 1},
                    "now": {"type": ["string", "integer"]},
                    "set": {"type": "object"},
                    "unset": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "expect": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": False,
                        "properties": {
                            "allowed": {"type": "boolean"},
                            "violations": ID_LIST,
                            "warnings": ID_LIST,
                            "audits": ID_LIST,
                            "exemptions": ID_LIST,
                            "not_violations": ID_LIST,
                            "absent": ID_LIST,
                            "risk_tier": {"type": "string"},
                            "exact": {"type": "boolean"},
                            "messages": {
                                "type": "object",
                                "additionalProperties": {
                                    "oneOf": [{"type": "string"}, ID_LIST],
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(CASE_FILE_SCHEMA)


@dataclass
class Case:
    name: str
    file: str
    line: int
    document: dict[str, Any]
    expect: dict[str, Any]
    kind: str = "case"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class CaseResult:
    name: str
    file: str
    line: int
    kind: str  # "case" or "rego"
    status: str  # "pass", "fail", "skip"
    problems: list[str] = field(default_factory=list)
    actual: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "status": self.status,
            "problems": list(self.problems),
            "actual": self.actual,
            "seconds": round(self.seconds, 6),
        }


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _parse_path(path: str) -> list[str]:
    """``a.b.0`` or the JSON pointer ``/a/b/0`` (use the pointer when a key has dots)."""
    if path.startswith("/"):
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    return path.split(".")


def _walk(doc: Any, parts: list[str], create: bool) -> tuple[Any, str]:
    """The container that holds the last part of ``parts``, and that part."""
    cur = doc
    for i, part in enumerate(parts[:-1]):
        if isinstance(cur, list):
            if not part.isdigit() or int(part) >= len(cur):
                raise KeyError(f"no list index {part!r} at {'.'.join(parts[: i + 1])}")
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if part not in cur:
                if not create:
                    raise KeyError(f"no key {part!r} at {'.'.join(parts[: i + 1])}")
                cur[part] = {}
            elif cur[part] is None and create:
                cur[part] = {}
            cur = cur[part]
        else:
            raise KeyError(f"{'.'.join(parts[:i])} is a {type(cur).__name__}, not an object")
    return cur, parts[-1]


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parent, last = _walk(doc, _parse_path(path), create=True)
    if isinstance(parent, list):
        if last == "-":
            parent.append(copy.deepcopy(value))
        elif last.isdigit() and int(last) < len(parent):
            parent[int(last)] = copy.deepcopy(value)
        else:
            raise KeyError(f"no list index {last!r} in {path}")
    elif isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    else:
        raise KeyError(f"cannot set {path}: parent is a {type(parent).__name__}")


def unset_path(doc: dict[str, Any], path: str) -> None:
    parent, last = _walk(doc, _parse_path(path), create=False)
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise KeyError(f"nothing to unset at {path}")


def _schema_error(lines: LineMap, err: jsonschema.ValidationError) -> InputError:
    pointer = pointer_of(err.absolute_path)
    return InputError(f"{pointer or '/'}: {err.message[:200]}", location=lines.where(pointer))


class Suite:
    """The cases of a directory, with their bases loaded once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._bases: dict[Path, dict[str, Any]] = {}

    def base(self, ref: str, where: str) -> dict[str, Any]:
        candidates = [self.directory / "bases" / f"{ref}.yaml", self.directory / "bases" / ref]
        candidates.append(self.directory / ref)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise InputError(
                f"base {ref!r} not found in {self.directory / 'bases'}", location=where
            )
        if path not in self._bases:
            document, _ = load_data_file(path)
            if not isinstance(document, dict):
                raise InputError("a base must be a canonical input object", location=str(path))
            self._bases[path] = document
        return copy.deepcopy(self._bases[path])

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise InputError("policy test directory not found", location=str(self.directory))
        files = sorted(
            p
            for p in self.directory.iterdir()
            if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
        )
        if not files:
            raise InputError("no *.yaml case files", location=str(self.directory))
        return files

    def load_file(self, path: Path) -> list[Case]:
        document, lines = load_yaml_file(path)
        errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            raise _schema_error(lines, errors[0])
        default_base = document.get("base")
        cases: list[Case] = []
        seen: set[str] = set()
        for i, raw in enumerate(document["cases"]):
            pointer = f"/cases/{i}"
            where = lines.where(pointer)
            if raw["name"] in seen:
                raise InputError(f"duplicate case name {raw['name']!r}", location=where)
            seen.add(raw["name"])
            base_ref = raw.get("base", default_base)
            if base_ref is None:
                raise InputError(
                    "case has no base (set 'base' in the case or the file)", location=where
                )
            doc = self.base(base_ref, where)
            if "now" in raw:
                try:
                    doc.setdefault("context", {})["now_ns"] = to_ns(raw["now"])
                except InputError as err:
                    raise InputError(err.message, location=lines.where(f"{pointer}/now")) from None
            for target in raw.get("unset", []):
                try:
                    unset_path(doc, target)
                except KeyError as err:
                    raise InputError(
                        f"unset {target}: {err.args[0]}", location=lines.where(f"{pointer}/unset")
                    ) from None
            for target, value in raw.get("set", {}).items():
                try:
                    set_path(doc, target, value)
                except KeyError as err:
                    raise InputError(
                        f"set {target}: {err.args[0]}", location=lines.where(f"{pointer}/set")
                    ) from None
            cases.append(
                Case(
                    name=raw["name"],
                    file=str(path),
                    line=lines.line(pointer) or 1,
                    document=doc,
                    expect=raw["expect"],
                )
            )
        return cases

    def load(self) -> list[Case]:
        return [case for path in self.files() for case in self.load_file(path)]


# ---------------------------------------------------------------------------------------
# Checking a decision against the expectation
# ---------------------------------------------------------------------------------------


def summarize(decision: Any) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "risk_tier": decision.risk_tier,
        "violations": sorted({v.control for v in decision.violations}),
        "warnings": sorted({v.control for v in decision.warnings}),
        "audits": sorted({v.control for v in decision.audits}),
        "exemptions": sorted({e.control for e in decision.exemptions}),
    }


def _fmt(ids: list[str] | set[str]) -> str:
    return "[" + ", ".join(sorted(ids)) + "]"


def check_expectation(expect: dict[str, Any], decision: Any) -> list[str]:
    """Human-readable differences between ``expect`` and ``decision`` ([] if it matches)."""
    actual = summarize(decision)
    problems: list[str] = []
    if "allowed" in expect and expect["allowed"] != actual["allowed"]:
        problems.append(f"allowed: expected {expect['allowed']}, got {actual['allowed']}")
    if "risk_tier" in expect and expect["risk_tier"] != actual["risk_tier"]:
        problems.append(f"risk_tier: expected {expect['risk_tier']}, got {actual['risk_tier']}")
    exact = bool(expect.get("exact", False))
    exemption_ids = {e.id for e in decision.exemptions}
    for key in ("violations", "warnings", "audits", "exemptions"):
        if key not in expect:
            continue
        want = set(expect[key])
        have = set(actual[key]) | (exemption_ids if key == "exemptions" else set())
        missing = want - have
        extra = set(actual[key]) - want if exact else set()
        if missing or extra:
            detail = []
            if missing:
                detail.append(f"missing {_fmt(missing)}")
            if extra:
                detail.append(f"unexpected {_fmt(extra)}")
            relation = "==" if exact else "⊇"
            problems.append(
                f"{key}: expected {relation} {_fmt(want)}, got {_fmt(actual[key])} ({'; '.join(detail)})"
            )
    denied = set(actual["violations"])
    for cid in expect.get("not_violations", []):
        if cid in denied:
            problems.append(f"not_violations: {cid} was denied: {_messages(decision, cid)}")
    everywhere = (
        denied | set(actual["warnings"]) | set(actual["audits"]) | set(actual["exemptions"])
    )
    for cid in expect.get("absent", []):
        if cid in everywhere:
            problems.append(f"absent: {cid} was reported: {_messages(decision, cid)}")
    for cid, texts in expect.get("messages", {}).items():
        wanted = [texts] if isinstance(texts, str) else list(texts)
        found = _all_messages(decision, cid)
        for text in wanted:
            if not any(text in message for message in found):
                shown = "; ".join(found) if found else "no finding of that control"
                problems.append(f"messages: no {cid} message contains {text!r} (got: {shown})")
    return problems


def _all_messages(decision: Any, control: str) -> list[str]:
    items = [*decision.violations, *decision.warnings, *decision.audits]
    out = [v.message for v in items if v.control == control]
    out += [e.message for e in decision.exemptions if e.control == control]
    return out


def _messages(decision: Any, control: str) -> str:
    return "; ".join(_all_messages(decision, control))[:400]


def run_cases(engine: Any, cases: list[Case]) -> list[CaseResult]:
    results = []
    for case in cases:
        started = time.perf_counter()
        decision = engine.evaluate(case.document, validate=True)
        problems = check_expectation(case.expect, decision)
        actual = summarize(decision)
        if not decision.allowed and decision.violations[0].control.startswith("MLGATE-"):
            actual["error"] = decision.violations[0].message
        results.append(
            CaseResult(
                name=case.name,
                file=case.file,
                line=case.line,
                kind="case",
                status="fail" if problems else "pass",
                problems=problems,
                actual=actual,
                seconds=time.perf_counter() - started,
            )
        )
    return results


# ---------------------------------------------------------------------------------------
# Rego test_ rules on the embedded engine, in a worker process
# ---------------------------------------------------------------------------------------

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)
_WITH = re.compile(r"\swith\s+(input|data)\b")

_WORKER = r"""
import json, sys
from regopy import Interpreter
job = json.loads(sys.stdin.read())
interp = Interpreter()
interp.strict_built_in_errors = True
interp.add_data(job["data"])
for name, source in job["modules"].items():
    interp.add_module(name, source)
for query in job["queries"]:
    print(json.dumps({"query": query, "started": True}), flush=True)
    try:
        out = interp.query(query)
        if not out.ok():
            print(json.dumps({"query": query, "status": "fail", "error": str(out)[:500]}), flush=True)
            continue
        values = [r.expressions[0] for r in out.results if r.expressions] if out.results else []
        ok = values == [True]
        print(json.dumps({"query": query, "status": "pass" if ok else "fail", "values": values[:1]}), flush=True)
    except Exception as err:
        print(json.dumps({"query": query, "status": "fail", "error": f"{type(err).__name__}: {err}"[:500]}), flush=True)
"""


@dataclass(frozen=True)
class RegoTest:
    module: str
    package: str
    rule: str
    line: int

    @property
    def query(self) -> str:
        return f"data.{self.package}.{self.rule}"


def discover_rego_tests(test_modules: dict[str, str]) -> list[RegoTest]:
    tests = []
    for rel, source in sorted(test_modules.items()):
        package = _PACKAGE.search(source)
        if package is None:
            continue
        for m in _TEST_RULE.finditer(source):
            line = source.count("\n", 0, m.start()) + 1
            tests.append(RegoTest(rel, package.group(1), m.group(1), line))
    # A rule may be split over several bodies (test_x if {...} test_x if {...}): one test.
    unique: dict[tuple[str, str], RegoTest] = {}
    for t in tests:
        unique.setdefault((t.package, t.rule), t)
    return list(unique.values())


def _run_worker(job: dict[str, Any], timeout: float) -> tuple[list[dict[str, Any]], str]:
    """Runs the worker; returns its result lines and, if it died, why."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _WORKER],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s"
    lines = []
    for raw in proc.stdout.splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    if proc.returncode == 0:
        return lines, ""
    if proc.returncode < 0:
        return lines, f"rego-cpp crashed (signal {-proc.returncode})"
    tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
    return lines, f"worker exited with {proc.returncode}: {tail[0][:300]}"


def _embedded_modules(modules: dict[str, str], entrypoint: str) -> dict[str, str]:
    """The modules as the embedded backend compiles them (with its rego-cpp compat rewrites)."""
    try:
        from mlgate.rego import compat
    except ImportError:  # pragma: no cover - a tree without the compat layer
        return modules
    try:
        return compat.rewrite(modules, entrypoint)
    except TypeError:  # pragma: no cover - the earlier one-argument form
        return compat.rewrite(modules)  # type: ignore[call-arg]


def run_rego_tests(policy_set: Any, *, timeout: float = 120.0) -> list[CaseResult]:
    """Runs every ``test_`` rule of the policy set's ``*_test.rego`` modules on rego-cpp."""
    tests = discover_rego_tests(policy_set.test_modules)
    results: list[CaseResult] = []
    runnable: dict[str, list[RegoTest]] = {}
    for t in tests:
        where = str(Path(policy_set.root) / t.module)
        if _WITH.search(policy_set.test_modules[t.module]):
            results.append(
                CaseResult(
                    name=f"{t.package}.{t.rule}",
                    file=where,
                    line=t.line,
                    kind="rego",
                    status="skip",
                    problems=[
                        "skipped on the embedded engine: the module uses `with`, which crashes "
                        "rego-cpp; run `opa test` for it"
                    ],
                )
            )
        else:
            runnable.setdefault(t.module, []).append(t)
    for module, module_tests in runnable.items():
        where = str(Path(policy_set.root) / module)
        pending = list(module_tests)
        while pending:
            job = {
                "data": policy_set.data,
                "modules": _embedded_modules(
                    {**policy_set.modules, module: policy_set.test_modules[module]},
                    policy_set.entrypoint,
                ),
                "queries": [t.query for t in pending],
            }
            started = time.perf_counter()
            lines, death = _run_worker(job, timeout)
            share = (time.perf_counter() - started) / len(pending)
            done = {line["query"]: line for line in lines if "status" in line}
            begun = [line["query"] for line in lines if line.get("started")]
            crashed_on = begun[-1] if begun and begun[-1] not in done else None
            remaining = []
            for t in pending:
                result = CaseResult(f"{t.package}.{t.rule}", where, t.line, "rego", "pass")
                result.seconds = share
                outcome = done.get(t.query)
                if outcome is not None:
                    if outcome["status"] != "pass":
                        result.status = "fail"
                        result.problems.append(
                            outcome.get("error")
                            or f"{t.query} is not true (got {outcome.get('values')})"
                        )
                elif t.query == crashed_on or not done:
                    # The test that was running when the worker died, or every test when
                    # nothing ran at all (the module did not load): failed, with the cause.
                    result.status = "fail"
                    result.problems.append(f"{t.query}: {death or 'no result from the worker'}")
                else:
                    remaining.append(t)  # never started: run again in a fresh worker
                    continue
                results.append(result)
            pending = remaining
    order = {(t.package, t.rule): i for i, t in enumerate(tests)}
    results.sort(key=lambda r: order.get(tuple(r.name.rsplit(".", 1)), 0))  # type: ignore[arg-type]
    return results


# ---------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------


def totals(results: list[CaseResult]) -> dict[str, int]:
    return {
        "total": len(results),
        "passed": sum(r.status == "pass" for r in results),
        "failed": sum(r.status == "fail" for r in results),
        "skipped": sum(r.status == "skip" for r in results),
        "cases": sum(r.kind == "case" for r in results),
        "rego": sum(r.kind == "rego" for r in results),
    }


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
                f"violations={_fmt(a.get('violations', []))} warnings={_fmt(a.get('warnings', []))}"
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
