"""Engine behaviour that does not depend on any one control: fail-closed, threads, contract."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conftest import NOW_NS, POLICIES, minimal_input
from mlgate.decide import EVAL_ERROR_CONTROL, INPUT_ERROR_CONTROL
from mlgate.engine import Engine
from mlgate.errors import EvaluationError, PolicyError
from mlgate.policyset import load_policy_set


class _Broken:
    """A backend that fails the way a real one can: raises, or answers garbage."""

    name = "broken"

    def __init__(self, failure: Exception | None = None, answer: Any = None) -> None:
        self.failure = failure
        self.answer = answer

    def evaluate(self, input_document: dict[str, Any]) -> dict[str, Any]:
        if self.failure:
            raise self.failure
        return self.answer

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "backend",
    [
        _Broken(EvaluationError("OPA did not answer within 2.0 s")),
        _Broken(RuntimeError("segfault-ish")),
    ],
)
def test_backend_failure_denies_and_names_the_cause(backend: _Broken) -> None:
    engine = Engine(load_policy_set(POLICIES), backend)
    decision = engine.evaluate(minimal_input())
    assert decision.allowed is False
    assert [v.control for v in decision.violations] == [EVAL_ERROR_CONTROL]
    assert str(backend.failure) in decision.violations[0].message


def test_rego_builtin_error_fails_closed_on_opa(policy_copy) -> None:
    # The OPA server runs with strict builtin errors: to_number("abc") is an error, not
    # undefined, so the deny rule cannot silently disappear: the decision is a denial naming it.
    from opa_support import OPA

    if OPA is None:
        pytest.skip("OPA binary not found: run `make opa` (or set MLGATE_OPA)")
    (policy_copy / "controls" / "tiering.rego").write_text(
        "package mlgate.controls.tiering\n\n"
        'findings contains {"control": "SC-SIGNED", "message": "x", "path": ""} if {\n'
        "\tto_number(input.model.uri) > 1\n}\n"
    )
    engine = Engine.from_path(policy_copy, "opa", opa_binary=OPA)
    try:
        decision = engine.evaluate(minimal_input())
    finally:
        engine.close()
    assert decision.allowed is False
    assert decision.violations[0].control == EVAL_ERROR_CONTROL
    assert "to_number" in decision.violations[0].message


def test_wasm_builtin_error_is_undefined_so_rules_deny_unless_proven(policy_copy) -> None:
    # OPA's Wasm target has no strict mode: a failing builtin is undefined. A rule written
    # "deny unless the evidence proves compliance" (the policy author guide's form) still
    # denies when the proof fails with an error; the shipped policies are checked against the
    # strict OPA server on mistyped inputs (tests/test_wasm_differential.py).
    (policy_copy / "controls" / "tiering.rego").write_text(
        "package mlgate.controls.tiering\n\n"
        'findings contains {"control": "SC-SIGNED", "message": "x", "path": ""} if {\n'
        "\tnot uri_is_small\n}\n\n"
        "uri_is_small if to_number(input.model.uri) <= 1\n"
    )
    engine = Engine.from_path(policy_copy)
    decision = engine.evaluate(minimal_input())
    assert engine.backend.name == "wasm"
    assert decision.allowed is False
    assert "SC-SIGNED" in [v.control for v in decision.violations]


def test_undefined_entrypoint_fails_closed(policy_copy) -> None:
    main = policy_copy / "main.rego"
    main.write_text(main.read_text().replace("result := {", "result := {} if false\n\nunused := {"))
    decision = Engine.from_path(policy_copy).evaluate(minimal_input())
    assert decision.allowed is False
    assert decision.violations[0].control == EVAL_ERROR_CONTROL


def test_garbage_backend_answer_fails_closed() -> None:
    engine = Engine(load_policy_set(POLICIES), _Broken(answer={"findings": "not-a-list"}))
    decision = engine.evaluate(minimal_input())
    assert decision.allowed is False


def test_invalid_input_is_a_denial_naming_the_path(engine: Engine) -> None:
    doc = minimal_input()
    doc["context"]["now_ns"] = "yesterday"
    decision = engine.evaluate(doc)
    assert decision.allowed is False
    assert decision.violations[0].control == INPUT_ERROR_CONTROL
    assert "/context/now_ns" in decision.violations[0].message


def test_unknown_control_id_in_rego_still_denies(policy_copy) -> None:
    (policy_copy / "controls" / "tiering.rego").write_text(
        "package mlgate.controls.tiering\n\n"
        'findings contains {"control": "NOT-IN-CATALOGUE", "message": "x", "path": ""}\n'
    )
    decision = Engine.from_path(policy_copy).evaluate(minimal_input())
    assert decision.allowed is False
    assert "NOT-IN-CATALOGUE" in " ".join(v.message for v in decision.violations)


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ('x := http.send({"method": "get", "url": "http://x"})', "http.send"),
        ('x := rand.intn("k", 10)', "rand.intn"),
        ("x := made.up.builtin(1)", "made.up.builtin"),
        ('x := sprintf("%q", ["a"])', "%q"),
    ],
)
def test_unsupported_builtins_are_rejected_at_load(policy_copy, rule: str, named: str) -> None:
    path = policy_copy / "controls" / "extra.rego"
    path.write_text(f"package mlgate.controls.extra\n\n{rule}\n")
    with pytest.raises(PolicyError) as info:
        load_policy_set(policy_copy)
    assert named in str(info.value)
    assert "extra.rego:3" in str(info.value)


def test_a_host_builtin_without_an_exact_implementation_is_refused_at_build(policy_copy) -> None:
    # OPA's Wasm target leaves time.parse_rfc3339_ns to the host, and mlgate has no OPA-exact
    # version of it: the policy set is refused when it is built, naming file and line.
    path = policy_copy / "controls" / "extra.rego"
    path.write_text(
        "package mlgate.controls.extra\n\nimport data.mlgate.lib\n\n"
        'findings contains lib.finding("SC-SIGNED", "x", "") if {\n'
        "\ttime.parse_rfc3339_ns(input.model.uri) > 0\n}\n"
    )
    main = policy_copy / "main.rego"
    main.write_text(
        main.read_text()
        + "\nfindings contains f if some f in data.mlgate.controls.extra.findings\n"
    )
    with pytest.raises(PolicyError) as info:
        Engine.from_path(policy_copy)
    assert "extra.rego:6: time.parse_rfc3339_ns" in str(info.value)


def test_a_host_builtin_error_fails_closed(policy_copy) -> None:
    # time.date runs in Python (a host builtin); its error is an evaluation error: a denial.
    (policy_copy / "controls" / "tiering.rego").write_text(
        "package mlgate.controls.tiering\n\n"
        'findings contains {"control": "SC-SIGNED", "message": "x", "path": ""} if {\n'
        "\ttime.date(input.model.uri)[0] > 1\n}\n"
    )
    decision = Engine.from_path(policy_copy).evaluate(minimal_input())
    assert decision.allowed is False
    assert [v.control for v in decision.violations] == [EVAL_ERROR_CONTROL]
    assert "time.date" in decision.violations[0].message


def test_rego_syntax_error_names_the_file(policy_copy) -> None:
    (policy_copy / "controls" / "tiering.rego").write_text(
        "package mlgate.controls.tiering\n\nx if {\n"
    )
    with pytest.raises(PolicyError) as info:
        Engine.from_path(policy_copy)
    assert "tiering.rego" in str(info.value)


def test_threads_get_the_same_answers_as_one_thread(engine: Engine) -> None:
    # Wasm instances are not thread-safe; the pool lends each to one thread at a time.
    inputs = []
    for i in range(40):
        doc = minimal_input()
        doc["context"]["environment"] = ["production", "staging", "development"][i % 3]
        doc["request"]["name"] = f"m{i}"
        inputs.append(doc)
    expected = [sorted(v.control for v in engine.evaluate(d).violations) for d in inputs]
    got: dict[int, list[list[str]]] = {}

    def work(worker: int) -> None:
        got[worker] = [sorted(v.control for v in engine.evaluate(d).violations) for d in inputs * 5]

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for answers in got.values():
        assert answers == expected * 5


def test_decision_carries_revision_backend_and_time(engine: Engine) -> None:
    decision = engine.evaluate(minimal_input())
    assert decision.policy_revision.startswith("sha256:") and len(decision.policy_revision) == 71
    assert decision.backend == "wasm"
    assert decision.evaluated_at.endswith("Z")
    assert decision.subject["namespace"] == "ml-prod"
    assert len(decision.decision_id) == 32
    assert NOW_NS > 0
