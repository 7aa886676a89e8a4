"""The builtins the Wasm engine computes in Python, and the check that refuses the others.

OPA's Wasm target implements most builtins inside the module; a few it delegates to the host
through ``opa_builtinN`` (the module's ``builtins`` export lists them). mlgate answers only
those implemented here, each written to OPA's specification and compared with the real OPA
server (``tests/test_gofmt.py``, ``tests/test_wasm_differential.py``). A policy whose module
needs any other host builtin is refused when it is built, naming the file and line of the call
(``mlgate.rego.wasm_build``). An error inside one of these functions fails the evaluation, and
so the decision is a fail-closed denial, as with OPA's strict builtin errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from mlgate.rego.gofmt import sprintf

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class HostBuiltinError(ValueError):
    """The host builtin cannot give OPA's answer for these operands."""


def _timestamp(value: Any) -> dt.datetime:
    """OPA's tzTime: ns since the epoch, exactly an int64, optionally [ns, "UTC"]."""
    tz = "UTC"
    if isinstance(value, list):
        if len(value) != 2 or not isinstance(value[1], str):
            raise HostBuiltinError("time.date: operand must be a number or [number, timezone]")
        value, tz = value
    if tz not in ("", "UTC"):
        raise HostBuiltinError(f"time.date: timezone {tz!r} is not supported (only UTC)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HostBuiltinError(f"time.date: operand must be a number, got {value!r:.100}")
    if isinstance(value, float):
        if not value.is_integer():
            raise HostBuiltinError("timestamp too big")  # OPA's words: not an exact int64
        value = int(value)
    if not INT64_MIN <= value <= INT64_MAX:
        raise HostBuiltinError("timestamp too big")
    return _EPOCH + dt.timedelta(microseconds=value // 1000)


def time_date(value: Any) -> list[int]:
    """``time.date(ns)``: [year, month, day] in UTC."""
    t = _timestamp(value)
    return [t.year, t.month, t.day]


HOST_BUILTINS: dict[str, Callable[..., Any]] = {
    "sprintf": sprintf,
    "time.date": time_date,
}
