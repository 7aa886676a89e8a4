"""Calls into the policy's Wasm exports without wasmtime-py's per-call type introspection.

wasmtime-py's ``Func.__call__`` asks the engine for the function's type on every call and
builds Python objects for each parameter and result type before it calls: ~15 us per call
on the team machine, where the call itself takes ~1 us. opa-py-wasm makes 6 such calls per
evaluation (heap pointer, malloc, write, ``opa_eval``...), plus 4 per host builtin call. Every
export opa-py-wasm calls takes and returns only i32 values (the OPA Wasm ABI), so this adapter
reads a function's type once and calls ``wasmtime_func_call`` directly with preallocated
arguments, inside wasmtime-py's own ``enter_wasm`` (traps and exceptions raised by host
functions surface exactly as through ``Func.__call__``).

It is installed into opa-py-wasm's runtime (``WasmtimeRuntime.get_func``), as the compiled-
module cache is (``wasm_native_cache``); a function with any other signature, or a wasmtime
whose internals differ from those this was written against (checked at install), keeps the
library's own call. ``tests/test_wasm_fast_call.py`` compares both paths.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import wasmtime
from opapywasm import runtime as _runtime

_LOCK = threading.Lock()
_ORIGINAL_GET_FUNC = _runtime.WasmtimeRuntime.get_func

try:  # the wasmtime-py internals this adapter relies on
    from wasmtime import _ffi
    from wasmtime._func import enter_wasm as _enter_wasm

    _SUPPORTED = all(
        hasattr(_ffi, name) for name in ("wasmtime_func_call", "wasmtime_val_t", "WASMTIME_I32")
    )
except ImportError:  # pragma: no cover - another wasmtime-py layout: the library's calls
    _SUPPORTED = False


class FastFunc:
    """One i32-only export of one instance, called with preallocated arguments."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, params: int, results: int):
        self._store = store
        self._original = func
        self._func = ctypes.byref(func._func)
        self._params = (_ffi.wasmtime_val_t * max(1, params))()
        for slot in self._params:
            slot.kind = _ffi.WASMTIME_I32.value  # type: ignore[assignment]
        self._n_params = params
        self._result_type = _ffi.wasmtime_val_t * max(1, results)
        self._n_results = results

    def type(self, store: wasmtime.Store) -> wasmtime.FuncType:
        return self._original.type(store)

    def __call__(self, store: Any, *args: int) -> int | None:
        if len(args) != self._n_params:
            raise wasmtime.WasmtimeError(f"expected {self._n_params} parameters, got {len(args)}")
        params = self._params  # read by wasmtime before the callee runs: reusable
        for i, value in enumerate(args):
            params[i].of.i32 = value
        results = self._result_type()  # per call: a host function may call this export again
        with _enter_wasm(self._store) as trap:
            error = _ffi.wasmtime_func_call(
                self._store._context(),
                self._func,
                params,
                self._n_params,
                results,
                self._n_results,
                trap,
            )
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)
        return results[0].of.i32 if self._n_results else None


def _i32_only(func: wasmtime.Func, store: wasmtime.Store) -> tuple[int, int] | None:
    kind = wasmtime.ValType.i32()
    ty = func.type(store)
    params, results = list(ty.params), list(ty.results)
    if (
        isinstance(getattr(func, "_func", None), _ffi.wasmtime_func_t)
        and all(t == kind for t in params + results)
        and len(results) <= 1
    ):
        return len(params), len(results)
    return None


def _get_func(self: Any, name: str) -> Any:
    func = _ORIGINAL_GET_FUNC(self, name)
    cache = self.__dict__.setdefault("_mlgate_fast_funcs", {})
    fast = cache.get(name)
    if fast is None:
        shape = _i32_only(func, self.store)
        fast = FastFunc(self.store, func, *shape) if shape else func
        cache[name] = fast
    return fast


def install() -> bool:
    """Routes opa-py-wasm's export calls through FastFunc (idempotent); False if this
    wasmtime-py is not the layout it was written for."""
    if not _SUPPORTED:
        return False
    with _LOCK:
        _runtime.WasmtimeRuntime.get_func = _get_func  # type: ignore[method-assign]
    return True
