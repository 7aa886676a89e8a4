"""The numbers every Rego engine computes with alike: finite, and inside the 64-bit range.

OPA computes with arbitrary-precision decimals; OPA's Wasm target keeps integers as int64 and
otherwise works with doubles, so beyond 2**63 the two print and compare numbers differently
(``floor(1e300) == 1e300`` holds on one of them). No real input needs such a number (a
timestamp in ns stays below 2**63 until the year 2262), so the engine refuses an input that
holds one, before any Rego runs, with the JSON path: a fail-closed denial that is the same on
every backend.
"""

from __future__ import annotations

import math
from typing import Any

from mlgate.policyset.yamlfile import pointer_of

LIMIT = 2**63


def out_of_range(document: Any) -> str | None:
    """The JSON pointer of the first number outside (-2**63, 2**63) or not finite, else None."""
    if not _any_out_of_range(document):  # every decision pays this walk: no paths built
        return None
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value) or abs(value) >= LIMIT:
                return pointer_of(path) or "/"
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= LIMIT:
            return pointer_of(path) or "/"
    return None


def _any_out_of_range(document: Any) -> bool:
    """Whether ``out_of_range`` would find a number: the same test, 4x faster (exact types
    first; NaN fails every comparison, so it counts as out of range)."""
    stack = [document]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is int or kind is float:
            if not -LIMIT < value < LIMIT:
                return True
        elif isinstance(value, (dict, list, int, float)):
            return True  # a subclass: the exact walk decides
    return False
