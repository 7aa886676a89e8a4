"""The policy's compiled machine code, cached on disk by content (an opa-py-wasm adapter).

opa-py-wasm compiles the policy's Wasm module with Cranelift each time a policy is built
(``WasmtimeRuntimeFactory``): seconds per process, paid by every ``mlgate check`` start and
every check worker. wasmtime can serialize a compiled module and load it back in
milliseconds, but opa-py-wasm has no hook for a precompiled module. So this adapter gives
``opapywasm.runtime`` a ``wasmtime`` whose ``Module(engine, wasm)`` first looks for
``<cache>/wasm-native/<sha256 of the Wasm>-wasmtime<version>-<machine>.cwasm``: the key is
the module's content, so an edited policy (a new Wasm module) never meets a stale entry.

Loading a serialized module runs the machine code in it, so a file is used only where no
other user could have written it: the directory and the file must belong to this user and
be writable by nobody else (else the module is compiled, as without a cache). wasmtime itself
refuses a file from another wasmtime version or engine configuration; then the module is
compiled and the file replaced. A read-only or missing cache only costs the compilation.
``MLGATE_WASM_NATIVE_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import threading
import types
from importlib import metadata
from pathlib import Path
from typing import Any

import wasmtime
from opapywasm import runtime as _runtime

from mlgate._internal.private_cache import TOOL_CACHE, trusted_file, write_private

ENV_SWITCH = "MLGATE_WASM_NATIVE_CACHE"
_LOCK = threading.Lock()


def cache_dir() -> Path:
    return TOOL_CACHE / "wasm-native"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") not in ("0", "false", "no", "off")


@functools.cache
def _wasmtime_version() -> str:
    return metadata.version("wasmtime")  # ~10 ms the first time: once per process


@functools.lru_cache(maxsize=4)
def entry_name(wasm: bytes) -> str:
    digest = hashlib.sha256(wasm).hexdigest()
    return f"{digest}-wasmtime{_wasmtime_version()}-{platform.machine()}.cwasm"


def _cached_entry(wasm: bytes) -> Path | None:
    """The trusted cache file for this module, if there is one."""
    return trusted_file(cache_dir(), entry_name(wasm))


def load_or_compile(engine: wasmtime.Engine, wasm: bytes) -> wasmtime.Module:
    if not enabled():
        return wasmtime.Module(engine, wasm)
    cached = _cached_entry(wasm)
    if cached is not None:
        try:
            return wasmtime.Module.deserialize_file(engine, str(cached))
        except wasmtime.WasmtimeError:
            pass  # from other engine settings, or damaged: compile and replace it
    module = wasmtime.Module(engine, wasm)
    _store(cache_dir(), cache_dir() / entry_name(wasm), module)
    return module


def validate_unless_cached(engine: wasmtime.Engine, wasm: bytes) -> None:
    """wasmtime's validation (a quarter of a cached start), except for a module this cache
    holds: that one was validated and compiled from these very bytes (the name is their
    digest) by an earlier process."""
    if enabled() and _cached_entry(wasm) is not None:
        return
    wasmtime.Module.validate(engine, wasm)


def _store(directory: Path, path: Path, module: wasmtime.Module) -> None:
    try:
        data = module.serialize()
    except wasmtime.WasmtimeError:
        return
    write_private(directory, path.name, bytes(data))


class _CachedModule:
    """Stands in for ``wasmtime.Module`` inside opa-py-wasm's runtime."""

    validate = staticmethod(validate_unless_cached)

    def __new__(cls, engine: wasmtime.Engine, wasm: bytes) -> Any:
        return load_or_compile(engine, wasm)


class _WasmtimeWithCache(types.ModuleType):
    Module = _CachedModule

    def __getattr__(self, name: str) -> Any:
        return getattr(wasmtime, name)


def install() -> None:
    """Routes opa-py-wasm's module compilation through the cache (idempotent)."""
    with _LOCK:
        # opa-py-wasm's module-level wasmtime import is not part of its declared API.
        if not isinstance(_runtime.wasmtime, _WasmtimeWithCache):  # type: ignore[attr-defined]
            _runtime.wasmtime = _WasmtimeWithCache("wasmtime")  # type: ignore[attr-defined]
