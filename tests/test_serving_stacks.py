"""Every serving stack's documented shapes: each model is found, signed ones pass the supply
chain, unsigned and unresolvable ones are denied in production (issue 10)."""

from __future__ import annotations

from typing import Any

import pytest

from mlgate import Engine
from mlgate.subjects import RequestInfo, subject_from_object
from serving_shapes import SHAPES, UNRESOLVED, with_annotations
from webhook_support import signed_annotations

PRODUCTION = RequestInfo(
    username="release-bot",
    groups=("mlops-release-managers",),
    namespace_labels={"mlgate.io/environment": "production"},
)
STAGING = RequestInfo(namespace_labels={"mlgate.io/environment": "staging"})
SUPPLY_CHAIN_ROOT = {"SC-SIGNED", "SC-TRUSTED-SIGNER", "SC-DIGEST-MATCH", "SC-MODEL-RESOLVED"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.parametrize(("shape", "obj", "uris"), SHAPES, ids=ids(SHAPES))
def test_every_documented_shape_names_its_models(shape, obj, uris) -> None:
    subject = subject_from_object(obj, PRODUCTION)
    assert subject is not None, f"{shape}: no model found"
    assert {m.uri for m in subject.models if m.role == "model"} == uris
    assert [m for m in subject.models if m.role != "model"] == []


@pytest.mark.parametrize(("shape", "obj", "uris"), SHAPES, ids=ids(SHAPES))
def test_unsigned_shapes_are_denied_in_production_supply_chain_first(
    engine, shape, obj, uris
) -> None:
    decision = engine.evaluate_subject(subject_from_object(obj, PRODUCTION))
    assert not decision.allowed
    assert decision.violations[0].control == "SC-SIGNED", [v.control for v in decision.violations]
    assert len(decision.subject.get("models", [decision.subject])) == len(uris)


SINGLE = [s for s in SHAPES if len(s[2]) == 1]


@pytest.mark.parametrize(("shape", "obj", "uris"), SINGLE, ids=ids(SINGLE))
def test_signed_shapes_pass_the_supply_chain(engine, shape, obj, uris) -> None:
    signed = with_annotations(obj, signed_annotations())
    decision = engine.evaluate_subject(subject_from_object(signed, PRODUCTION))
    controls = {v.control for v in decision.violations}
    assert not controls & (SUPPLY_CHAIN_ROOT | {"SC-ATTESTED", "TIER-ATTESTED"}), controls
    assert decision.subject["uri"] == next(iter(uris))


@pytest.mark.parametrize(("shape", "obj"), UNRESOLVED, ids=ids(UNRESOLVED))
def test_unresolvable_models_are_denied_in_production_and_warned_in_staging(
    engine, shape, obj
) -> None:
    subject = subject_from_object(obj, PRODUCTION)
    assert subject is not None and any(m.role == "unresolved" for m in subject.models)
    decision = engine.evaluate_subject(subject)
    assert not decision.allowed
    assert decision.violations[0].control == "SC-MODEL-RESOLVED"
    # Signing the object does not help: there is no named model for the signature to cover.
    signed = engine.evaluate_subject(
        subject_from_object(with_annotations(obj, signed_annotations()), PRODUCTION)
    )
    assert "SC-MODEL-RESOLVED" in signed.denied_controls
    staged = engine.evaluate_subject(subject_from_object(obj, STAGING))
    assert "SC-MODEL-RESOLVED" in {w.control for w in staged.warnings}
    assert "SC-MODEL-RESOLVED" not in staged.denied_controls
