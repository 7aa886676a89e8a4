"""Running a suite: YAML cases through the real engine, Rego ``test_`` rules on Wasm.

Every case runs through :class:`mlgate.engine.Engine` with input validation on, so a case sees
exactly what the webhook and ``mlgate check`` would decide. Rego ``test_`` rules are compiled
by OPA to WebAssembly with each rule as an entrypoint (compiling needs OPA, ``make opa``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.decide import could_not_decide
from mlgate.policytest.cases import Case
from mlgate.policytest.expect import check_expectation, summarize
from mlgate.policytest.results import CaseResult


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


_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


@dataclass(frozen=True)
class RegoTest:
    module: str
    package: str
    rule: str
    line: int

    @property
    def name(self) -> str:
        return f"{self.package}.{self.rule}"

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


def run_rego_tests(
    policy_set: Any, select: Callable[[str], bool] | None = None
) -> list[CaseResult]:
    """Runs the ``test_`` rules of the policy set's ``*_test.rego`` modules on the Wasm engine.

    ``select`` gets each test's name (``package.rule``) and keeps it or not *before* anything
    is compiled, so ``mlgate test --run`` costs only the tests it names. Compiling test modules
    needs OPA (``make opa``); without it every test fails and says so.
    """
    tests = discover_rego_tests(policy_set.test_modules)
    if select is not None:
        tests = [t for t in tests if select(t.name)]
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
            result = CaseResult(t.name, where, t.line, "rego", "fail" if problem else "pass")
            result.seconds = share
            if problem:
                result.problems.append(problem)
            results.append(result)
    return results
