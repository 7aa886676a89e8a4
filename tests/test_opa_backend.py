"""The OPA server backend against a real OPA on 127.0.0.1.

Covers: the same decisions as the embedded engine; fail-closed denials with a clear reason
when OPA dies or hangs; the circuit breaker (opens, rejects fast, recovers through a half-open
probe after a restart); external-URL mode with re-push after a restart; the bearer token of
a managed OPA; thread safety.
"""

from __future__ import annotations

import copy
import dataclasses
import http.client
import os
import signal
import threading
import time
from typing import Any

import pytest

from error_codes import raises_code
from mlgate import Engine
from mlgate.breaker import CircuitBreaker, State
from mlgate.errors import BackendUnavailable, EvaluationError
from mlgate.policytest.cases import Suite
from mlgate.rego.opa import OpaBackend
from mlgate.rego.opaprocess import OpaProcess, free_port
from opa_support import OPA, POLICY_TESTS, decision_key, policy_set, requires_opa, shared_engines

pytestmark = requires_opa


def _inputs() -> list[dict[str, Any]]:
    suite = Suite(POLICY_TESTS)
    return [suite.base(p.stem, str(p)) for p in sorted((POLICY_TESTS / "bases").glob("*.yaml"))]


def _engine(**options: Any) -> Engine:
    return Engine(policy_set(), "opa", opa_binary=OPA, **options)


def _eval_error(decision: Any, control: str = "MLGATE-EVAL-ERROR") -> str:
    assert not decision.allowed
    assert decision.violations[0].control == control
    return decision.violations[0].message


def _unavailable(decision: Any) -> str:
    """OPA could not be reached: an infrastructure fault (the only kind --fail-open admits)."""
    return _eval_error(decision, "MLGATE-BACKEND-UNAVAILABLE")


def test_same_decisions_as_the_embedded_engine() -> None:
    embedded, opa = shared_engines()
    for doc in _inputs():
        unsigned = copy.deepcopy(doc)
        unsigned["signature"] = {"present": False, "verified": False, "trusted": False}
        for variant in (doc, unsigned):
            a, b = embedded.evaluate(variant), opa.evaluate(variant)
            assert decision_key(a) == decision_key(b)
            assert b.backend == "opa"


def test_killed_opa_denies_opens_the_breaker_and_recovers_by_restarting() -> None:
    breaker = CircuitBreaker("opa", failure_threshold=2, reset_timeout=0.5)
    engine = _engine(breaker=breaker, timeout=2.0)
    backend = engine.backend
    assert isinstance(backend, OpaBackend) and backend.process is not None
    doc = _inputs()[0]
    try:
        expected = decision_key(engine.evaluate(doc))
        os.kill(backend.process.pid, signal.SIGKILL)
        backend.process._proc.wait(timeout=5)  # type: ignore[union-attr]

        reason = _unavailable(engine.evaluate(doc))
        assert "unreachable" in reason and "killed by signal 9" in reason
        _unavailable(engine.evaluate(doc))
        assert breaker.state is State.OPEN

        # Open: no request is even attempted, so callers do not pile up behind a dead server.
        start = time.perf_counter()
        for _ in range(200):
            with raises_code(BackendUnavailable, "breaker.open"):
                backend.evaluate(doc)
        assert time.perf_counter() - start < 0.2
        assert "circuit breaker" in _unavailable(engine.evaluate(doc))

        # Half-open: the probe finds the process dead, starts a new one, pushes, answers.
        time.sleep(0.6)
        assert decision_key(engine.evaluate(doc)) == expected
        assert breaker.state is State.CLOSED
        assert backend.process.alive
    finally:
        engine.close()
    assert not backend.process.alive


def test_stopped_opa_times_out_and_denies() -> None:
    engine = _engine(timeout=0.3, breaker=CircuitBreaker("opa", failure_threshold=5))
    backend = engine.backend
    assert isinstance(backend, OpaBackend) and backend.process is not None
    doc = _inputs()[0]
    try:
        engine.evaluate(doc)
        os.kill(backend.process.pid, signal.SIGSTOP)
        start = time.perf_counter()
        reason = _unavailable(engine.evaluate(doc))
        elapsed = time.perf_counter() - start
        assert "did not answer within 0.3s" in reason
        assert elapsed < 1.5  # a read timeout is not retried
        os.kill(backend.process.pid, signal.SIGCONT)
        assert engine.evaluate(doc).backend == "opa"
    finally:
        if backend.process.pid:
            os.kill(backend.process.pid, signal.SIGCONT)
        engine.close()


def test_external_url_mode_and_re_push_after_a_restart() -> None:
    server = OpaProcess(OPA, token=None).start()
    port = server.port
    breaker = CircuitBreaker("opa", failure_threshold=1, reset_timeout=0.3)
    engine = Engine(policy_set(), "opa", url=server.url, breaker=breaker, timeout=2.0)
    embedded, _ = shared_engines()
    doc = _inputs()[1]
    try:
        assert engine.backend.process is None  # type: ignore[attr-defined]
        assert decision_key(engine.evaluate(doc)) == decision_key(embedded.evaluate(doc))

        server.stop()
        assert "unreachable" in _unavailable(engine.evaluate(doc))
        assert breaker.state is State.OPEN

        # A new, empty OPA on the same address: the probe finds no policies and pushes them.
        server = OpaProcess(OPA, token=None, port=port).start()
        time.sleep(0.35)
        assert decision_key(engine.evaluate(doc)) == decision_key(embedded.evaluate(doc))
    finally:
        engine.close()
        server.stop()


def test_a_restart_between_two_requests_is_noticed_and_repaired() -> None:
    """No error is seen (the next request simply finds an empty OPA): undefined -> re-push."""
    server = OpaProcess(OPA, token=None, port=free_port()).start()
    engine = Engine(policy_set(), "opa", url=server.url, timeout=2.0)
    doc = _inputs()[0]
    try:
        expected = decision_key(engine.evaluate(doc))
        server.start()  # stop + start on the same port: a fresh OPA without our policies
        assert decision_key(engine.evaluate(doc)) == expected
    finally:
        engine.close()
        server.stop()


def test_another_policy_set_pushed_into_the_same_opa_is_noticed() -> None:
    server = OpaProcess(OPA, token=None).start()
    ours = Engine(policy_set(), "opa", url=server.url)
    theirs = OpaBackend(
        dataclasses.replace(
            _tiny_policy_set('package mlgate.main\n\nresult := {"findings": []}\n'),
            revision="sha256:someone-else",
        ),
        url=server.url,
    )
    doc = _inputs()[0]
    embedded, _ = shared_engines()
    try:
        expected = decision_key(embedded.evaluate(doc))
        assert decision_key(ours.evaluate(doc)) == expected
        assert theirs.evaluate(doc) == {"findings": []}  # replaced our modules
        assert decision_key(ours.evaluate(doc)) == expected  # noticed, pushed back, asked again
    finally:
        ours.close()
        theirs.close()
        server.stop()


def test_managed_opa_requires_its_token() -> None:
    backend = OpaBackend(policy_set(), opa_binary=OPA)
    try:
        assert backend.process is not None and backend.process.token
        conn = http.client.HTTPConnection("127.0.0.1", backend.process.port, timeout=5)
        conn.request("PUT", "/v1/policies/evil", body=b"package mlgate.main\nresult := {}\n")
        assert conn.getresponse().status == 401
        conn.close()
        assert "findings" in backend.evaluate(_inputs()[0])
    finally:
        backend.close()


def _tiny_policy_set(main: str) -> Any:
    return dataclasses.replace(policy_set(), modules={"main.rego": main})


def test_policy_errors_fail_closed_without_opening_the_breaker() -> None:
    main = (
        "package mlgate.main\n\n"
        'result := {"findings": [], "risk_tier": "minimal", "n": to_number(input.request.name)}\n'
    )
    breaker = CircuitBreaker("opa", failure_threshold=1)
    backend = OpaBackend(_tiny_policy_set(main), opa_binary=OPA, breaker=breaker)
    try:
        for _ in range(3):  # strict builtin errors: an error, like the embedded engine
            with raises_code(EvaluationError, "opa.eval_builtin_error") as info:
                backend.evaluate(_inputs()[0])
            assert not isinstance(info.value, BackendUnavailable)
        assert breaker.state is State.CLOSED
    finally:
        backend.close()


def test_undefined_entrypoint_is_an_evaluation_error() -> None:
    main = 'package mlgate.main\n\nresult := {"findings": []} if input.request.name == "never"\n'
    backend = OpaBackend(_tiny_policy_set(main), opa_binary=OPA)
    try:
        with raises_code(EvaluationError, "evaluation.undefined"):
            backend.evaluate(_inputs()[0])
    finally:
        backend.close()


def test_concurrent_callers_share_one_client() -> None:
    _, opa = shared_engines()
    docs = _inputs()
    expected = [decision_key(opa.evaluate(d)) for d in docs]
    errors: list[str] = []

    def worker() -> None:
        for _ in range(5):
            for doc, want in zip(docs, expected, strict=True):
                got = decision_key(opa.evaluate(doc))
                if got != want:
                    errors.append(f"{got} != {want}")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_bad_url_is_refused() -> None:
    with pytest.raises(ValueError, match="must not have a path"):
        OpaBackend(policy_set(), url="http://127.0.0.1:8181/prefix")
    with raises_code(BackendUnavailable, "opa.load_failed"):
        OpaBackend(policy_set(), url="http://127.0.0.1:9", timeout=0.5)
