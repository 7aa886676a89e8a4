"""The Wasm backend: the opa-py-wasm workaround, shipped module, pool, data, fail-closed paths."""

from __future__ import annotations

import copy
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from opapywasm import OpaWasmError, OpaWasmPolicy
from opapywasm import runtime as opapywasm_runtime

from conftest import POLICIES, minimal_input
from mlgate._internal import opa_wasm_memory
from mlgate.decide import EVAL_ERROR_CONTROL, INPUT_ERROR_CONTROL
from mlgate.engine import Engine
from mlgate.errors import PolicyError
from mlgate.policyset import load_policy_set
from mlgate.rego import opaprocess, wasm_build
from mlgate.rego.hostbuiltins import HOST_BUILTINS
from mlgate.rego.wasm import WasmBackend

SHIPPED_WASM = (wasm_build.SHIPPED / wasm_build.WASM_NAME).read_bytes()


def test_memory_workaround_still_needed() -> None:
    """Fails once opa-py-wasm instantiates OPA v1.22 modules by itself: then delete
    mlgate/_internal/opa_wasm_memory.py and this test."""
    declared = opa_wasm_memory.declared_memory_minimum(SHIPPED_WASM)
    assert declared == 3
    saved = opapywasm_runtime._DEFAULT_MEMORY_PAGES
    opapywasm_runtime._DEFAULT_MEMORY_PAGES = 2  # opa-py-wasm 1.2.1's own value
    try:
        with pytest.raises(OpaWasmError, match="memory types incompatible"):
            OpaWasmPolicy.from_wasm_bytes(SHIPPED_WASM).close()
    finally:
        opapywasm_runtime._DEFAULT_MEMORY_PAGES = saved


def test_declared_memory_minimum_reads_the_import_section() -> None:
    assert opa_wasm_memory.declared_memory_minimum(b"\0asm\x01\0\0\0") == 0
    with pytest.raises(ValueError):
        opa_wasm_memory.declared_memory_minimum(b"not wasm")


def test_shipped_module_is_current_and_names_its_host_builtins() -> None:
    assert wasm_build.check_shipped(POLICIES) is None
    backend = WasmBackend(load_policy_set(POLICIES), pool_size=1)
    try:
        assert backend.host_builtins == ["sprintf", "time.date"]
        assert set(backend.host_builtins) <= set(HOST_BUILTINS)
    finally:
        backend.close()


def test_stale_shipped_module_says_run_make_wasm(tmp_path: Path) -> None:
    copy_dir = tmp_path / "policies"
    shutil.copytree(POLICIES, copy_dir)
    main = copy_dir / "main.rego"
    main.write_text(main.read_text() + "\n# edited\n")
    problem = wasm_build.check_shipped(copy_dir)
    assert problem is not None and "make wasm" in problem


@pytest.fixture
def no_opa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opaprocess, "find_opa_binary", lambda explicit=None: None)


def test_yaml_edits_need_no_compiler(tmp_path: Path, no_opa: None) -> None:
    # Data is set at load: params/catalogue edits reuse the shipped module, without OPA.
    copy_dir = tmp_path / "policies"
    shutil.copytree(POLICIES, copy_dir)
    params = copy_dir / "params.yaml"
    params.write_text(params.read_text() + "\n")
    engine = Engine.from_path(copy_dir)
    try:
        assert engine.evaluate(minimal_input()).backend == "wasm"
    finally:
        engine.close()


def test_edited_rego_without_opa_says_how_to_get_it(tmp_path: Path, no_opa: None) -> None:
    copy_dir = tmp_path / "policies"
    shutil.copytree(POLICIES, copy_dir)
    (copy_dir / "main.rego").write_text((copy_dir / "main.rego").read_text() + "\n# edit\n")
    with pytest.raises(PolicyError, match="make opa"):
        WasmBackend(load_policy_set(copy_dir))


def test_pool_serves_more_threads_than_instances() -> None:
    engine = Engine.from_path(POLICIES, pool_size=2)
    try:
        assert engine.backend.pool_size == 2
        expected = engine.evaluate(minimal_input())
        got: list[Any] = []

        def work() -> None:
            for _ in range(5):
                got.append(engine.evaluate(minimal_input()))

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 30
        key = sorted(v.control for v in expected.violations)
        assert all(sorted(v.control for v in d.violations) == key for d in got)
    finally:
        engine.close()


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["request"].__setitem__("name", "x" * 9_000_000), id="oversized"),
        pytest.param(lambda d: d["model"].__setitem__("score", float("nan")), id="nan"),
        pytest.param(lambda d: d["model"].__setitem__("blob", object()), id="not-json"),
    ],
)
def test_inputs_the_module_cannot_take_are_denials(mutate: Any) -> None:
    engine = Engine.from_path(POLICIES, pool_size=1)
    try:
        doc = copy.deepcopy(minimal_input())
        mutate(doc)
        decision = engine.evaluate(doc, validate=False)
        assert decision.allowed is False
        assert [v.control for v in decision.violations] in (
            [EVAL_ERROR_CONTROL],
            [INPUT_ERROR_CONTROL],  # NaN: refused before any Rego runs (mlgate.numbers)
        )
        # and the pool is still healthy afterwards
        assert engine.evaluate(minimal_input()).violations[0].control != EVAL_ERROR_CONTROL
    finally:
        engine.close()


def test_embedded_is_an_alias_of_wasm() -> None:
    engine = Engine.from_path(POLICIES, "embedded", pool_size=1)
    try:
        assert engine.backend.name == "wasm"
    finally:
        engine.close()
