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
in ``*_test.rego`` modules are compiled by OPA to WebAssembly with each rule as an entrypoint
and run on the embedded engine (so compiling them needs OPA, ``make opa``).
"""

from __future__ import annotations

import copy
import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from mlgate.decide import could_not_decide
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
        if not decision.allowed and could_not_decide(decision.violations[0].control):
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
# Rego test_ rules on the embedded (Wasm) engine
# ---------------------------------------------------------------------------------------

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


@dataclass(frozen=True)
class RegoTest:
    module: str
    package: str
    rule: str
    line: int

    @property
    def query(self) -> str:
        return f"data.{self.package}.{self.rule}"

    @property
    def entrypoint(self) -> str:
        return f"{self.package.replace('.', '/')}/{self.rule}"


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


def _run_module_tests(policy_set: Any, module: str, tests: list[RegoTest]) -> dict[str, str]:
    """{query: problem or ""} for one test module, compiled with its rules as entrypoints."""
    from mlgate.errors import MlgateError
    from mlgate.rego.hostbuiltins import HOST_BUILTINS
    from mlgate.rego.wasm import new_policy
    from mlgate.rego.wasm_build import refuse_unsupported_host_builtins, wasm_for

    modules = {**policy_set.modules, module: policy_set.test_modules[module]}
    try:
        wasm = wasm_for(modules, [t.entrypoint for t in tests], root=str(policy_set.root))
        policy = new_policy(wasm, pool_size=1, eval_timeout_s=30.0)
    except MlgateError as err:
        return {t.query: str(err) for t in tests}
    try:
        refuse_unsupported_host_builtins(policy.builtins, modules, str(policy_set.root))
        for name in policy.builtins:
            policy.register_builtin(name, HOST_BUILTINS[name])
        policy.set_data(policy_set.data)
        outcome = {}
        for t in tests:
            try:
                value = policy.evaluate({}, t.entrypoint)
            except Exception as err:  # an evaluation error fails the test, never the run
                outcome[t.query] = f"{t.query}: {type(err).__name__}: {err}"[:500]
                continue
            outcome[t.query] = (
                "" if value is True else f"{t.query} is not true (got {value!r:.200})"
            )
        return outcome
    except MlgateError as err:
        return {t.query: str(err) for t in tests}
    finally:
        policy.close()


def run_rego_tests(policy_set: Any) -> list[CaseResult]:
    """Runs every ``test_`` rule of the policy set's ``*_test.rego`` modules on the Wasm engine.

    Compiling test modules needs OPA (``make opa``); without it every test fails and says so.
    """
    tests = discover_rego_tests(policy_set.test_modules)
    by_module: dict[str, list[RegoTest]] = {}
    for t in tests:
        by_module.setdefault(t.module, []).append(t)
    results: list[CaseResult] = []
    for module, module_tests in by_module.items():
        where = str(Path(policy_set.root) / module)
        started = time.perf_counter()
        outcome = _run_module_tests(policy_set, module, module_tests)
        share = (time.perf_counter() - started) / len(module_tests)
        for t in module_tests:
            problem = outcome.get(t.query, "no result")
            result = CaseResult(
                f"{t.package}.{t.rule}", where, t.line, "rego", "fail" if problem else "pass"
            )
            result.seconds = share
            if problem:
                result.problems.append(problem)
            results.append(result)
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
