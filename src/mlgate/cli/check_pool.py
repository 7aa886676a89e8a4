"""Decisions for many objects on every core, in input order.

Decisions are independent of each other, so ``mlgate check`` splits the objects into
contiguous slices and evaluates them in worker processes (the GIL rules out threads for this
pure-Python-plus-engine work). Each worker builds its own engine once: compiled engines and
their native state are not shared across processes. Slices come back in order, so the output
is the same as a sequential run's, decision ids and timestamps aside.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from mlgate.errors import MlgateError

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# Starting a worker and building its engine costs tens to hundreds of ms: below about 200
# objects (this much YAML) one process finishes first.
PARALLEL_MIN_BYTES = 96 * 1024
SLICES_PER_WORKER = 4  # a few slices each evens out slow objects without much pickling
# Native engines whose threads or global pools do not survive a fork (a forked child that
# compiles Wasm could wait forever on the parent's compiler threads): with one of these
# already loaded, workers start from a clean forkserver process instead.
_FORK_UNSAFE = ("wasmtime", "regopy")

T = TypeVar("T")
R = TypeVar("R")

# Worker state, set by _start_worker.
_engine: Any = None
_engine_error: MlgateError | None = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(requested: int | None, size: int, threshold: int) -> int:
    """``requested`` (0 or None = one per core), but 1 when the run (``size`` objects or
    bytes) is below ``threshold``: then one process finishes first."""
    if size < threshold:
        return 1
    return max(1, requested or available_cores())


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
    return _engine.evaluate_subjects(subjects)  # type: ignore[no-any-return]


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
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and not any(name in sys.modules for name in _FORK_UNSAFE):
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


class Workers:
    """Parsing and evaluation for one ``mlgate check``: in this process (``jobs`` 1) or in
    ``jobs`` worker processes, each building its engine while the parent reads the objects.
    Every map keeps input order."""

    def __init__(self, jobs: int, engine_args: argparse.Namespace) -> None:
        self.jobs = jobs
        self._engine_args = engine_args
        self._pool: ProcessPoolExecutor | None = None
        if jobs > 1:  # multiprocessing costs ~30 ms to import: only for a run that gains
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=multiprocessing.get_context(start_method()),
                initializer=_start_worker,
                initargs=(engine_args,),
            )
            # Start the workers now, so their engines build while this process reads input.
            self._pool.submit(int)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` (a module-level function: it travels by name)."""
        if self._pool is None or len(items) < 2:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def evaluate(self, subjects: Sequence[Any]) -> list[Any]:
        """One Decision per subject, in order."""
        if self._pool is None:
            from mlgate.cli.common import make_engine

            engine = make_engine(self._engine_args)
            try:
                return engine.evaluate_subjects(subjects)  # type: ignore[no-any-return]
            finally:
                engine.close()
        parts = [subjects[a:b] for a, b in _slices(len(subjects), self.jobs * SLICES_PER_WORKER)]
        out: list[Any] = []
        for part in self._pool.map(_evaluate_slice, parts):
            out += part
        return out
