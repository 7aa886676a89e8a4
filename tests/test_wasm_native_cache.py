"""The compiled policy's machine code is cached on disk by content: a second engine loads it
instead of compiling, decisions are unchanged, and a cache someone else could write to, a
damaged entry or the off switch fall back to compiling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import wasmtime

from conftest import POLICIES, minimal_input
from mlgate._internal import wasm_native_cache as cache
from mlgate.engine import Engine


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "wasm-native"
    monkeypatch.setattr(cache, "cache_dir", lambda: directory)
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)
    return directory


def _calls(monkeypatch) -> dict[str, int]:
    counts = {"compile": 0, "load": 0}
    real_compile, real_load = wasmtime.Module, wasmtime.Module.deserialize_file

    class CountingModule(real_compile):
        def __new__(cls, engine, wasm):
            counts["compile"] += 1
            return real_compile(engine, wasm)

    def counting_load(engine, path):
        counts["load"] += 1
        return real_load(engine, path)

    monkeypatch.setattr(cache.wasmtime, "Module", CountingModule)
    monkeypatch.setattr(CountingModule, "deserialize_file", staticmethod(counting_load))
    return counts


def _decision(engine: Engine) -> dict:
    d = engine.evaluate(minimal_input()).to_dict()
    d.pop("decision_id"), d.pop("evaluated_at")
    return d


def test_second_engine_loads_the_cached_module(cache_dir, monkeypatch) -> None:
    counts = _calls(monkeypatch)
    first = Engine.from_path(POLICIES)
    entries = list(cache_dir.glob("*.cwasm"))
    assert len(entries) == 1 and counts == {"compile": 1, "load": 0}
    assert oct(entries[0].stat().st_mode & 0o777) == "0o600"
    assert oct(cache_dir.stat().st_mode & 0o777) == "0o700"
    second = Engine.from_path(POLICIES)
    assert counts == {"compile": 1, "load": 1}
    try:
        assert _decision(first) == _decision(second)
    finally:
        first.close()
        second.close()


def test_a_cache_others_can_write_is_not_trusted(cache_dir, monkeypatch) -> None:
    Engine.from_path(POLICIES).close()
    os.chmod(cache_dir, 0o777)
    counts = _calls(monkeypatch)
    Engine.from_path(POLICIES).close()
    assert counts == {"compile": 1, "load": 0}


def test_a_damaged_entry_is_compiled_again_and_replaced(cache_dir, monkeypatch) -> None:
    Engine.from_path(POLICIES).close()
    [entry] = cache_dir.glob("*.cwasm")
    entry.write_bytes(b"\x7fELF not a module")
    counts = _calls(monkeypatch)
    engine = Engine.from_path(POLICIES)
    try:
        assert counts["compile"] == 1
        assert _decision(engine)["backend"]
    finally:
        engine.close()
    replaced = wasmtime.Module.deserialize_file(wasmtime.Engine(_config()), str(entry))
    assert replaced is not None  # the damaged file was replaced by a loadable module


def _config() -> wasmtime.Config:
    config = wasmtime.Config()
    config.epoch_interruption = True  # as opa-py-wasm builds its engine
    return config


def test_off_switch(cache_dir, monkeypatch) -> None:
    monkeypatch.setenv(cache.ENV_SWITCH, "0")
    Engine.from_path(POLICIES).close()
    assert not cache_dir.exists()
