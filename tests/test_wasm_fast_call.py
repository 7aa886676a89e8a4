"""The direct calls into the policy's Wasm exports (mlgate._internal.wasm_fast_call): the same
answers, traps and host-function errors as wasmtime-py's own ``Func.__call__``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from opapywasm import OpaWasmError
from opapywasm import runtime as opapywasm_runtime

from conftest import POLICIES
from mlgate._internal import wasm_fast_call
from mlgate.engine import Engine
from mlgate.policytest.cases import Suite
from mlgate.rego.hostbuiltins import HOST_BUILTINS
from mlgate.rego.wasm import new_policy
from mlgate.rego.wasm_build import compile_modules
from opa_support import OPA, POLICY_TESTS


def test_installed_on_the_pinned_wasmtime() -> None:
    """Fails when a wasmtime-py release changes the internals the adapter uses: then it
    silently falls back to the library's calls, and this file says why it got slower."""
    assert wasm_fast_call.install()
    assert opapywasm_runtime.WasmtimeRuntime.get_func is wasm_fast_call._get_func


def _answers(engine: Engine, docs: list[dict[str, Any]]) -> list[Any]:
    return [engine.backend.evaluate(engine.with_card_evidence(d)) for d in docs]


def test_same_answers_as_wasmtime_py_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    suite = Suite(POLICY_TESTS)
    docs = [c.document for c in suite.load()[:80] if c.document]
    fast = Engine.from_path(POLICIES, "wasm", pool_size=1)
    try:
        want_fast = _answers(fast, docs)
    finally:
        fast.close()
    monkeypatch.setattr(
        opapywasm_runtime.WasmtimeRuntime, "get_func", wasm_fast_call._ORIGINAL_GET_FUNC
    )
    monkeypatch.setattr(wasm_fast_call, "install", lambda: False)
    plain = Engine.from_path(POLICIES, "wasm", pool_size=1)
    try:
        assert _answers(plain, copy.deepcopy(docs)) == want_fast
    finally:
        plain.close()


@pytest.mark.opa
def test_traps_and_host_errors_surface_as_before() -> None:
    if OPA is None:
        pytest.skip("OPA binary not found: run `make opa`")
    source = (
        "package t\n\n"
        "r := numbers.range(1, input.n)\n\n"
        "spin := count({1 | some a in r; some b in r; some c in r})\n\n"
        'bad := sprintf("%x", [input.v])\n'
    )
    wasm = compile_modules({"t.rego": source}, ["t/spin", "t/bad"], opa_binary=OPA)
    policy = new_policy(wasm, pool_size=1, eval_timeout_s=0.2)
    try:
        for name in policy.builtins:
            policy.register_builtin(name, HOST_BUILTINS[name])
        assert policy.evaluate({"n": 10}, "t/spin") == 1
        with pytest.raises(OpaWasmError):  # the epoch deadline's trap (1e9 iterations)
            policy.evaluate({"n": 1000}, "t/spin")
        with pytest.raises(OpaWasmError, match="sprintf"):  # raised in a host function
            policy.evaluate({"v": 255}, "t/bad")
        assert policy.evaluate({"n": 3}, "t/spin") == 1  # the pool still answers
    finally:
        policy.close()
