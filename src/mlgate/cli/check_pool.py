"""Decisions for many objects on every core, in input order.

Decisions are independent of each other, so ``mlgate check`` splits the objects into
contiguous slices and evaluates them in worker processes (the GIL rules out threads for this
pure-Python-plus-engine work). Each worker builds its own engine once: compiled engines and
their native state are not shared across processes. Slices come back in order, so the output
is the same as a sequential run's, decision ids and timestamps aside.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from mlgate.errors import MlgateError

# Starting a worker and building its engine costs tens to hundreds of ms; below this many
# objects one process finishes first.
PARALLEL_MIN_OBJECTS = 200
SLICES_PER_WORKER = 4  # a few slices each evens out slow objects without much pickling
# Native engines whose threads or global pools do not survive a fork (a forked child that
# compiles Wasm could wait forever on the parent's compiler threads): with one of these
# already loaded, workers start from a clean forkserver process instead.
_FORK_UNSAFE = ("wasmtime", "regopy")

# Worker state, set by _start_worker.
_engine: Any = None
_engine_error: MlgateError | None = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(requested: int | None, objects: int) -> int:
    """``requested`` (0 or None = one per core), but 1 when the run is too small to gain."""
    jobs = requested or available_cores()
    if objects < PARALLEL_MIN_OBJECTS:
        return 1
    return max(1, min(jobs, objects))


def _start_worker(engine_args: argparse.Namespace) -> None:
    global _engine, _engine_error
    from mlgate.cli.common import make_engine

    try:
        _engine = make_engine(engine_args)
    except MlgateError as err:  # reported by the first slice, as the sequential run would
        _engine_error = err


def _evaluate_slice(subjects: Sequence[Any]) -> list[Any]:
    if _engine_error is not None:
        raise _engine_error
    return [_engine.evaluate_subject(s) for s in subjects]


def _slices(count: int, parts: int) -> list[tuple[int, int]]:
    step, extra = divmod(count, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + step + (1 if i < extra else 0)
        if stop > start:
            bounds.append((start, stop))
        start = stop
    return bounds


def start_method() -> str:
    """fork (workers start in milliseconds with everything imported) unless this process
    already holds a native engine; then forkserver; spawn where neither exists."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and not any(name in sys.modules for name in _FORK_UNSAFE):
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def evaluate_subjects(
    subjects: Sequence[Any], engine_args: argparse.Namespace, jobs: int
) -> list[Any]:
    """One Decision per subject, in order; ``jobs`` worker processes (1 = this process)."""
    from mlgate.cli.common import make_engine

    if jobs <= 1:
        engine = make_engine(engine_args)
        try:
            return [engine.evaluate_subject(s) for s in subjects]
        finally:
            engine.close()
    slices = [subjects[a:b] for a, b in _slices(len(subjects), jobs * SLICES_PER_WORKER)]
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(start_method()),
        initializer=_start_worker,
        initargs=(engine_args,),
    ) as pool:
        out: list[Any] = []
        for part in pool.map(_evaluate_slice, slices):
            out += part
        return out
