"""Shared helpers for benchmarks: timing statistics and JSON-lines output."""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "median_us": statistics.median(ordered) * 1e6,
        "p90_us": pick(0.90) * 1e6,
        "p99_us": pick(0.99) * 1e6,
        "max_us": ordered[-1] * 1e6,
    }


def time_calls(fn: Callable[[], Any], n: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    clock = time.perf_counter
    for _ in range(n):
        start = clock()
        fn()
        out.append(clock() - start)
    return out


def emit(record: dict[str, Any]) -> None:
    """One JSON object per line: easy to grep, diff and plot."""
    record = {"python": platform.python_version(), **record}
    print(json.dumps(record, sort_keys=True), flush=True)
    sys.stdout.flush()


def with_bytecode(env: dict[str, str]) -> dict[str, str]:
    """``env`` for timing a command as an installed wheel runs it: with byte code (pip
    compiles it at install), kept outside the source tree. Without it each run of mlgate
    would compile ~60 modules (~0.13 s) before doing anything."""
    import tempfile
    from pathlib import Path

    out = dict(env)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "mlgate-bench-pycache")
    return out


def thread_files(pid: int, name: str) -> dict[int, str]:
    """The text of ``/proc/<pid>/task/<tid>/<name>`` for each live thread of ``pid``, by
    native thread id (a thread that exits meanwhile is left out)."""
    from pathlib import Path

    out: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = (task / name).read_text()
        except OSError:
            continue
    return out
