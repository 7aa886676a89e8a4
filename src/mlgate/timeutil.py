"""Time conversion. Policies see integers (ns since the epoch): rego-cpp cannot parse 'Z'."""

from __future__ import annotations

import datetime as dt
import time

from mlgate.errors import InputError

_NS = 1_000_000_000


def now_ns() -> int:
    return time.time_ns()


def to_ns(value: object, *, where: str = "", end_of_day: bool = False) -> int:
    """RFC 3339 timestamp, ``YYYY-MM-DD`` date, datetime/date or epoch number -> ns.

    A bare date means its start (or, with ``end_of_day``, the last instant of that day), UTC.
    """
    if isinstance(value, bool):
        raise InputError(f"expected a timestamp, got {value!r}", location=where or None)
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int(stamp.timestamp()) * _NS + stamp.microsecond * 1000
    if isinstance(value, dt.date):
        day = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        if end_of_day:
            day += dt.timedelta(days=1)
            return int(day.timestamp()) * _NS - 1
        return int(day.timestamp()) * _NS
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return to_ns(dt.date.fromisoformat(text), end_of_day=end_of_day)
            return to_ns(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise InputError(
        f"expected an RFC 3339 timestamp or YYYY-MM-DD date, got {value!r}",
        location=where or None,
        code="time.not_rfc3339",
    )


def rfc3339(ns: int | None = None) -> str:
    """UTC RFC 3339 with a 'Z' suffix (microsecond precision)."""
    ns = now_ns() if ns is None else ns
    stamp = dt.datetime.fromtimestamp(ns / _NS, tz=dt.UTC)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")
