"""Untrusted JSON, narrowed: an object or a list where one is expected, else an empty one.

Admission objects, cards and attestations are attacker-controlled: a field that should be an
object may be a string or missing. These return a value of the expected shape (empty when it
is not), so the caller reads on without a type error and the policy sees "absent".
"""

from __future__ import annotations

from typing import Any


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
