"""Warming a policy set before it serves: one reference evaluation that must decide
(a set that fails on it is rejected at load), then one evaluation on every pool thread so
no request pays for building an interpreter."""

from __future__ import annotations

import contextlib
import threading

from mlgate.decision import Decision
from mlgate.engine import Engine
from mlgate.server.outcome import is_error
from mlgate.server.scheduler import FairScheduler
from mlgate.subjects import RequestInfo, subject_from_object

WARM_UP_OBJECT = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "mlgate-warm-up", "namespace": "mlgate-warm-up"},
    "spec": {
        "predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://warm/up"}}
    },
}


def _evaluate(engine: Engine, info: RequestInfo) -> Decision:
    subject = subject_from_object(WARM_UP_OBJECT, info, where="warm-up")
    assert subject is not None
    return engine.evaluate_subject(subject)


def warm_up(engine: Engine) -> None:
    """Builds lazy state (trust roots, interpreters) and rejects a set that cannot decide."""
    decision = _evaluate(engine, RequestInfo(operation="CREATE"))
    if is_error(decision):
        raise RuntimeError(
            "policy set fails on a reference object: " + decision.violations[0].message
        )


def warm_pool(engine: Engine, scheduler: FairScheduler, threads: int) -> None:
    """One evaluation on every pool thread, at the same time (each thread builds its own)."""
    barrier = threading.Barrier(threads)

    def job() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        _evaluate(engine, RequestInfo())  # a failure here was judged by warm_up at load

    # One client name per thread: the scheduler gives no single client every thread.
    futures = [scheduler.submit(f"mlgate-warm-up-{i}", job) for i in range(threads)]
    for future in futures:
        future.result(timeout=30)
