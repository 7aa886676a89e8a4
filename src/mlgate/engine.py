"""Engine: canonical input -> evidence -> Rego -> explained Decision.

No I/O of its own beyond loading the policy set. Every failure on the way to a decision
(invalid input, a Rego error, an unavailable backend) becomes a fail-closed denial that names
the cause; nothing is ever allowed by accident.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlgate.canonical import CanonicalInput, InputDocument
from mlgate.card.classification import annex_iii_matches
from mlgate.card.validation import CardValidator
from mlgate.decide import (
    BACKEND_UNAVAILABLE_CONTROL,
    EVAL_ERROR_CONTROL,
    INPUT_ERROR_CONTROL,
    combine,
    decide,
    failed_closed,
    subject_of,
)
from mlgate.decision import Decision
from mlgate.errors import BackendUnavailable, EvaluationCancelled, EvaluationError, MlgateError
from mlgate.inputs import InputBuilder
from mlgate.numbers import out_of_range
from mlgate.policyset import PolicySet, default_policy_dir, load_policy_set
from mlgate.policyset.validation import validator
from mlgate.policyset.yamlfile import pointer_of
from mlgate.rego import RegoBackend
from mlgate.subjects import Subject

log = logging.getLogger("mlgate.engine")


DEFAULT_BACKEND = "wasm"
# Inputs per call of a backend's evaluate_batch: the fixed cost per call is then ~1/32 of
# one input's, and one input's error costs a batch's re-run one by one.
BATCH_SIZE = 32
# "embedded" was the rego-cpp engine's name; it now means the embedded Wasm engine.
BACKEND_ALIASES = {"embedded": "wasm"}
BACKENDS = ("wasm", "opa")


def make_backend(policy_set: PolicySet, backend: str | RegoBackend, **options: Any) -> RegoBackend:
    if not isinstance(backend, str):
        return backend
    backend = BACKEND_ALIASES.get(backend, backend)
    if backend == "wasm":
        from mlgate.rego.wasm import WasmBackend

        return WasmBackend(policy_set, **options)
    options.pop("pool_size", None)  # a wasm option; OPA has its own connection pool
    if backend == "opa":
        from mlgate.rego.opa import OpaBackend

        return OpaBackend(policy_set, **options)
    raise MlgateError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")


class Engine:
    def __init__(
        self,
        policy_set: PolicySet,
        backend: str | RegoBackend = DEFAULT_BACKEND,
        *,
        supply_chain: Any | None = None,
        **backend_options: Any,
    ) -> None:
        self.policy_set = policy_set
        self.backend = make_backend(policy_set, backend, **backend_options)
        self._cards = CardValidator()
        self._supply_chain = supply_chain

    @classmethod
    def from_path(
        cls, path: str | Path, backend: str | RegoBackend = DEFAULT_BACKEND, **kw: Any
    ) -> Engine:
        return cls(load_policy_set(path), backend, **kw)

    @classmethod
    def from_bundle(
        cls,
        path: str | Path,
        verification_key: str | Path | None,
        backend: str | RegoBackend = DEFAULT_BACKEND,
        *,
        key_id: str | None = None,
        allow_unsigned: bool = False,
        **kw: Any,
    ) -> Engine:
        """An engine on a bundle from ``mlgate bundle build``, verified before it is used."""
        from mlgate.policyset.bundle import load_bundle

        policy_set = load_bundle(
            path, verification_key, key_id=key_id, allow_unsigned=allow_unsigned
        )
        return cls(policy_set, backend, **kw)

    @classmethod
    def default(cls, backend: str | RegoBackend = DEFAULT_BACKEND, **kw: Any) -> Engine:
        return cls.from_path(default_policy_dir(), backend, **kw)

    @property
    def revision(self) -> str:
        return self.policy_set.revision

    @property
    def supply_chain(self) -> Any:
        """The signature/attestation verifier for this policy set, built on first use."""
        if self._supply_chain is None:
            from mlgate.supplychain.verifier import SupplyChainVerifier

            self._supply_chain = SupplyChainVerifier.from_policy_dir(self.policy_set.root)
        return self._supply_chain

    def input_errors(self, doc: Any) -> list[str]:
        # validator() is cached per process; built on first use (not every command validates).
        checker = validator("input.schema.json")
        errors = sorted(checker.iter_errors(doc), key=lambda e: list(e.absolute_path))
        return [f"{pointer_of(e.absolute_path) or '/'}: {e.message[:200]}" for e in errors[:10]]

    def with_card_evidence(self, doc: InputDocument) -> dict[str, Any]:
        """Adds ``evidence.schema`` (model-card validation) and ``evidence.classification``
        (Annex III terms in the card's purpose) unless the caller supplied them."""
        evidence = doc.get("evidence", {})
        if "schema" in evidence and "classification" in evidence:
            return dict(doc)
        out = dict(doc)
        card = doc.get("card", {})
        out["evidence"] = {**evidence}
        if "schema" not in evidence:
            out["evidence"]["schema"] = self._cards.evidence(card)
        if "classification" not in evidence:
            terms = self.policy_set.data["mlgate"]["params"].get("classification", {})
            matches = annex_iii_matches(card, terms.get("annex_iii_terms", {}))
            out["evidence"]["classification"] = {"annex_iii_matches": matches}
        return out

    def failed_closed(self, doc: InputDocument, control: str, message: str) -> Decision:
        """A fail-closed denial for ``doc`` under this engine's policy set and backend."""
        return failed_closed(
            subject_of(doc),
            control,
            message,
            revision=self.policy_set.revision,
            backend=self.backend.name,
            dry_run=bool(doc.get("request", {}).get("dry_run", False)),
        )

    def evaluate(self, input_document: InputDocument, *, validate: bool = True) -> Decision:
        """One decision for one canonical input. Never raises for bad input or Rego errors."""
        prepared = self._prepare(input_document, validate)
        if isinstance(prepared, Decision):
            return prepared
        return self._decision(prepared, lambda: self.backend.evaluate(prepared))

    def _prepare(self, input_document: InputDocument, validate: bool) -> dict[str, Any] | Decision:
        """The input the Rego sees (with the card's evidence), or the denial that refuses it."""
        if validate:
            problems = self.input_errors(input_document)
            if problems:
                safe = input_document if isinstance(input_document, Mapping) else {}
                return self.failed_closed(
                    _skeleton(safe),
                    INPUT_ERROR_CONTROL,
                    "input does not match schemas/input.schema.json: " + "; ".join(problems),
                )
        where = out_of_range(input_document)
        if where is not None:
            return self.failed_closed(
                _skeleton(input_document),
                INPUT_ERROR_CONTROL,
                f"input number at {where} is outside the 64-bit range every Rego engine "
                "computes alike (see mlgate.numbers)",
            )
        return self.with_card_evidence(input_document)

    def _decision(self, doc: dict[str, Any], rego: Callable[[], dict[str, Any]]) -> Decision:
        """The decision on the Rego's answer (``rego()``); any failure is a denial naming it."""
        try:
            result = rego()
            return decide(doc, result, self.policy_set, self.backend.name)
        except BackendUnavailable as err:
            log.warning("backend unavailable, denying: %s", err)
            return self.failed_closed(doc, BACKEND_UNAVAILABLE_CONTROL, str(err))
        except EvaluationError as err:
            log.warning("evaluation failed, denying: %s", err)
            return self.failed_closed(doc, EVAL_ERROR_CONTROL, str(err))
        except Exception as err:  # a backend bug must still deny, never admit
            log.exception("unexpected backend failure, denying")
            return self.failed_closed(
                doc,
                EVAL_ERROR_CONTROL,
                f"unexpected {type(err).__name__}: {err}",
            )

    def evaluate_all(
        self,
        inputs: Sequence[InputDocument],
        subject: dict[str, Any],
        *,
        cancelled: Callable[[], bool] | None = None,
    ) -> Decision:
        """One decision for an object with several model references (denied if any is).

        ``cancelled`` is asked between references: when it says so, EvaluationCancelled is
        raised instead of spending more work on an answer nobody waits for.
        """
        decisions = []
        for doc in inputs:
            if cancelled is not None and cancelled():
                raise EvaluationCancelled("evaluation cancelled: its deadline passed")
            decisions.append(self.evaluate(doc, validate=False))
        return combine(decisions, subject)

    def build_inputs(self, subject: Subject, *, now_ns: int | None = None) -> list[CanonicalInput]:
        """The canonical inputs for a subject: signatures verified, dates in ns."""
        return InputBuilder(self.supply_chain).build(subject, now_ns=now_ns)

    def evaluate_subject(
        self,
        subject: Subject,
        *,
        now_ns: int | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Decision:
        """The decision for a Kubernetes object or manifest; fails closed on any error.

        EvaluationCancelled (only with ``cancelled``) is the one exception it raises.
        """
        inputs = self._inputs_or_denial(subject, now_ns)
        if isinstance(inputs, Decision):
            return inputs
        return self.evaluate_all(inputs, subject.describe(), cancelled=cancelled)

    def evaluate_subjects(
        self, subjects: Sequence[Subject], *, now_ns: int | None = None
    ) -> list[Decision]:
        """``evaluate_subject`` of each subject, the same decisions, with the Rego of all their
        inputs evaluated in batches where the backend can (``evaluate_batch``): a run over
        many objects then pays the engine's fixed cost per call once per batch."""
        prepared: list[Decision | list[dict[str, Any] | Decision]] = []
        for subject in subjects:
            inputs = self._inputs_or_denial(subject, now_ns)
            if isinstance(inputs, Decision):
                prepared.append(inputs)
            else:
                prepared.append([self._prepare(doc, validate=False) for doc in inputs])
        docs = [
            p for item in prepared if isinstance(item, list) for p in item if isinstance(p, dict)
        ]
        answers = iter(self._rego_batches(docs))
        out = []
        for subject, item in zip(subjects, prepared, strict=True):
            if isinstance(item, Decision):
                out.append(item)
                continue
            decisions = [
                p if isinstance(p, Decision) else self._decision(p, _replay(next(answers)))
                for p in item
            ]
            out.append(combine(decisions, subject.describe()))
        return out

    def _rego_batches(self, docs: list[dict[str, Any]]) -> list[Any]:
        """The backend's answer (or the exception it raised) for each input, in order."""
        batch = getattr(self.backend, "evaluate_batch", None)
        out: list[Any] = []
        for start in range(0, len(docs), BATCH_SIZE):
            chunk = docs[start : start + BATCH_SIZE]
            if batch is not None and len(chunk) > 1:
                try:
                    out += batch(chunk)
                    continue
                except Exception:  # then each input alone: a failure becomes that input's denial
                    pass
            for doc in chunk:
                try:
                    out.append(self.backend.evaluate(doc))
                except Exception as err:  # replayed by _decision, which denies on it
                    out.append(err)
        return out

    def _inputs_or_denial(
        self, subject: Subject, now_ns: int | None
    ) -> list[CanonicalInput] | Decision:
        try:
            return self.build_inputs(subject, now_ns=now_ns)
        except Exception as err:  # evidence collection must never admit by accident
            log.exception("building the input failed, denying")
            stub = {"request": subject.describe(), "context": {"environment": subject.environment}}
            return self.failed_closed(
                stub,
                EVAL_ERROR_CONTROL,
                f"could not build the policy input: {type(err).__name__}: {err}",
            )

    def close(self) -> None:
        self.backend.close()


def _replay(answer: Any) -> Callable[[], dict[str, Any]]:
    """A Rego call that gives a recorded answer, or raises the recorded failure."""

    def rego() -> dict[str, Any]:
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    return rego


def _skeleton(doc: InputDocument) -> dict[str, Any]:
    """A minimal, well-typed copy of a broken input for reporting the denial."""
    out = copy.deepcopy(dict(doc)) if isinstance(doc, Mapping) else {}
    for key in ("request", "context", "model"):
        if not isinstance(out.get(key), dict):
            out[key] = {}
    return out
