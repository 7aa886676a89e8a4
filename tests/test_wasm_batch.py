"""Batch evaluation (`mlgate check` over many objects): the same answers as one call each.

The Wasm module holds one generated rule besides the policy set (``mlgate.rego.wasm_build``:
the entrypoint's value for each input of an array, ``with input as`` each). These tests prove
that a batch answers exactly what one call per input answers, and that an input whose
evaluation fails costs only its own decision, never its neighbours'.
"""

from __future__ import annotations

import copy
import functools
import random
from pathlib import Path
from typing import Any

import pytest

from conftest import POLICIES
from mlgate.cli.cmd_check import load_documents
from mlgate.decide import EVAL_ERROR_CONTROL
from mlgate.engine import BATCH_SIZE, Engine
from mlgate.errors import EvaluationError
from mlgate.policytest.cases import Suite
from mlgate.subjects import RequestInfo, subject_from_object

REPO = Path(__file__).resolve().parents[1]
SEED = 20261201


@functools.cache
def _engine() -> Engine:
    return Engine.from_path(POLICIES, "wasm", pool_size=1)


def _case_inputs() -> list[dict[str, Any]]:
    """Every policy-test case's input, and seeded variants of the bases."""
    engine = _engine()
    cases = Suite(REPO / "policy-tests").load()
    docs = [engine.with_card_evidence(c.document) for c in cases if c.document]
    rng = random.Random(SEED)
    for doc in list(docs[:40]):
        variant = copy.deepcopy(doc)
        variant["signature"] = {"present": rng.random() < 0.5}
        variant["context"]["environment"] = rng.choice(["production", "staging", "development"])
        docs.append(variant)
    return docs


def _subjects() -> list[Any]:
    out = []
    for path in sorted((REPO / "examples" / "k8s").glob("*.yaml")):
        for obj, _ in load_documents(path):
            subject = subject_from_object(obj, RequestInfo(source="test"), base_dir=path.parent)
            if subject is not None:
                out.append(subject)
    return out


def test_a_batch_answers_what_one_call_per_input_answers() -> None:
    backend = _engine().backend
    docs = _case_inputs()
    assert len(docs) > 200
    for start in range(0, len(docs), BATCH_SIZE):
        chunk = docs[start : start + BATCH_SIZE]
        assert backend.evaluate_batch(chunk) == [backend.evaluate(d) for d in chunk]


def _comparable(decision: Any) -> dict[str, Any]:
    out = decision.to_dict()
    for volatile in ("decision_id", "evaluated_at"):
        out.pop(volatile, None)
    return out


def test_evaluate_subjects_gives_evaluate_subject_decisions() -> None:
    engine = _engine()
    subjects = _subjects() * 12  # several batches, with objects of several models
    assert len(subjects) > BATCH_SIZE
    now = 1_790_000_000_000_000_000
    batched = [_comparable(d) for d in engine.evaluate_subjects(subjects, now_ns=now)]
    one_by_one = [_comparable(engine.evaluate_subject(s, now_ns=now)) for s in subjects]
    assert batched == one_by_one
    assert (
        any(not d["allowed"] for d in batched) and len({d["subject"]["name"] for d in batched}) > 1
    )


class _FailsOn:
    """The real Wasm backend, except that evaluating one marked input fails (a fault
    injected where a trap or an engine error would occur)."""

    name = "wasm"

    def __init__(self, backend: Any, marker: str) -> None:
        self._backend, self._marker = backend, marker

    def _marked(self, doc: dict[str, Any]) -> bool:
        return doc.get("request", {}).get("name") == self._marker

    def evaluate(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self._marked(doc):
            raise EvaluationError("injected failure")
        return self._backend.evaluate(doc)

    def evaluate_batch(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any(self._marked(d) for d in docs):
            raise EvaluationError("injected failure in the batch")
        return self._backend.evaluate_batch(docs)

    def close(self) -> None:
        pass


def test_a_failing_input_denies_itself_only() -> None:
    engine = _engine()
    subjects = _subjects() * 10
    victim = subjects[5]
    faulty = Engine(engine.policy_set, _FailsOn(engine.backend, victim.name))
    now = 1_790_000_000_000_000_000
    got = faulty.evaluate_subjects(subjects, now_ns=now)
    for subject, decision in zip(subjects, got, strict=True):
        if subject.name == victim.name:
            assert not decision.allowed
            assert {v.control for v in decision.violations} == {EVAL_ERROR_CONTROL}
        else:
            assert _comparable(decision) == _comparable(
                engine.evaluate_subject(subject, now_ns=now)
            )


@pytest.mark.parametrize("size", [0, 1])
def test_small_runs_need_no_batch(size: int) -> None:
    subjects = _subjects()[:size]
    assert len(_engine().evaluate_subjects(subjects)) == size
