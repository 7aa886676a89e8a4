"""The Wasm engine against the OPA server, raw results compared: every finding, every word.

tests/test_differential.py compares decisions (policy-test cases, seeded variants); this file
compares the entrypoint's whole value (findings with messages and paths, tier, environment) on
inputs built to break an engine:
- hostile strings: quotes, backslashes, NUL, lone surrogates, RTL marks, 100k characters;
- integers beyond int64, floats at the edges, deep nesting;
- every field of a base replaced by a value of each other JSON type. The OPA server runs with
  strict builtin errors, so this also proves the shipped policies never hit a builtin error on
  these inputs (OPA's Wasm target has no strict mode: a failing builtin would be undefined).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlgate.errors import EvaluationError
from mlgate.policytest.cases import Suite
from opa_support import POLICY_TESTS, requires_opa, shared_engines

pytestmark = requires_opa

HOSTILE = [
    'a "quoted" value',
    "back\\slash \\n \\u0000",
    "nul\x00inside",
    "lone \ud800 surrogate",
    "lone \udfff low",
    "\u202eRTL\u200f override",
    "\u00a0\u3000",
    "ÉLODIE",
    "😀",
    "x" * 100_000,
    '"}], "environment": "development", "findings": [{"control": "X',
]
EDGE_NUMBERS = [2**63 - 1, -(2**63), 2**53 + 1, 9.2e18, -1e-300, 5e-324, 0.1, -0.0, 2**31, 5e9]
BEYOND_INT64 = [2**63, -(2**63) - 1, 10**30, 1e300, -1e19]
OTHER_TYPES = ["text", 7, 2.5, True, None, [], {}, ["a", 1], {"k": "v"}]


@functools.cache
def _bases() -> dict[str, dict[str, Any]]:
    suite = Suite(POLICY_TESTS)
    return {
        p.stem: suite.base(p.stem, str(p)) for p in sorted((POLICY_TESTS / "bases").glob("*.yaml"))
    }


def _raw(engine: Any, doc: dict[str, Any]) -> Any:
    # A mistyped evidence section cannot take the card's evidence: both get it as it is.
    with contextlib.suppress(TypeError, AttributeError):
        doc = engine.with_card_evidence(doc)
    try:
        value = engine.backend.evaluate(doc)
    except EvaluationError as err:
        return ("error", type(err).__name__)
    # In order: the order of the findings is the order of the explanation.
    findings = [json.dumps(f, sort_keys=True) for f in value["findings"]]
    return [findings, value.get("risk_tier"), value.get("environment")]


def _diff(doc: dict[str, Any]) -> str | None:
    wasm, opa = shared_engines()
    a, b = _raw(wasm, doc), _raw(opa, doc)
    if a == b:
        return None
    if isinstance(a, list) and isinstance(b, list):
        only_a = sorted(set(a[0]) - set(b[0]))[:2]
        only_b = sorted(set(b[0]) - set(a[0]))[:2]
        return f"wasm only {only_a!s:.300} opa only {only_b!s:.300} tiers {a[1:]} {b[1:]}"
    return f"wasm={a!s:.200} opa={b!s:.200}"


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _leaves(value, (*path, i))
    if path:
        yield path


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _string_paths(doc: Any) -> list[tuple[Any, ...]]:
    return [
        path
        for path in _leaves(doc)
        if isinstance(_get(doc, path), str) and path[0] not in ("context",)
    ]


def _number_paths(doc: Any) -> list[tuple[Any, ...]]:
    return [
        path
        for path in _leaves(doc)
        if isinstance(_get(doc, path), (int, float)) and not isinstance(_get(doc, path), bool)
    ]


def _assert_engines_agree(paths_of: Callable[[Any], list[tuple[Any, ...]]], value: Any) -> None:
    """Sets ``value`` at each of ``paths_of(base)`` in every base input, one path at a time; both
    engines must give the same findings, tier and environment for each."""
    problems = []
    for name, base in _bases().items():
        for path in paths_of(base):
            doc = copy.deepcopy(base)
            _set(doc, path, value)
            problem = _diff(doc)
            if problem:
                problems.append(f"{name} {'/'.join(map(str, path))}: {problem}")
    assert not problems, f"{len(problems)} differ:\n" + "\n".join(p[:160] for p in problems[:40])


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:30])
def test_hostile_strings_give_identical_results(value: str) -> None:
    _assert_engines_agree(_string_paths, value)


@pytest.mark.parametrize("value", EDGE_NUMBERS, ids=repr)
def test_edge_numbers_give_identical_results(value: float) -> None:
    _assert_engines_agree(_number_paths, value)


@pytest.mark.parametrize("value", BEYOND_INT64, ids=repr)
def test_numbers_beyond_int64_are_refused_alike(value: float) -> None:
    """Both engines deny before any Rego runs, naming the JSON path (mlgate.numbers)."""
    wasm, opa = shared_engines()
    base = _bases()["compliant-high-production"]
    for path in [("context", "now_ns"), ("evidence", "drift", "drift_share")]:
        doc = copy.deepcopy(base)
        _set(doc, path, value)
        for engine in (wasm, opa):
            decision = engine.evaluate(doc, validate=False)
            assert [v.control for v in decision.violations] == ["MLGATE-INPUT-INVALID"]
            assert "/" + "/".join(path) in decision.violations[0].message


def test_every_field_of_another_type_gives_identical_results() -> None:
    """Mistyped fields everywhere; the strict OPA server must not error where Wasm answers."""
    base = _bases()["compliant-high-production"]
    wasm, _ = shared_engines()
    problems = []
    checked = 0
    for path in _leaves(base):
        if path[0] == "context" and path[-1] == "now_ns":
            continue  # the input schema rejects it before any engine runs
        for value in OTHER_TYPES:
            doc = copy.deepcopy(base)
            _set(doc, path, value)
            if wasm.input_errors(doc):
                continue  # refused by the input schema on every backend before any Rego runs
            checked += 1
            problem = _diff(doc)
            if problem:
                problems.append(f"{'/'.join(map(str, path))}={value!r}: {problem}")
    assert checked > 300
    assert not problems, f"{len(problems)} of {checked} differ:\n" + "\n".join(
        p[:160] for p in problems[:40]
    )


def test_deep_nesting_gives_identical_results() -> None:
    base = _bases()["compliant-high-production"]
    deep: Any = "bottom"
    for _ in range(200):
        deep = {"d": [deep]}
    doc = copy.deepcopy(base)
    doc["card"]["governance"]["nested"] = deep
    doc["evidence"]["metrics"]["deep"] = deep
    assert _diff(doc) is None
