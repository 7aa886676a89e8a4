"""Property tests (Hypothesis): the admission parser, every subject adapter the registry
exposes, and the whole /validate path never let an exception escape: every outcome is a 4xx
with a message or a decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz_support import (
    adapter_targets,
    dumps,
    json_values,
    k8s_objects,
    mutated_bytes,
    review_of,
)
from mlgate.errors import InputError
from mlgate.server import admission
from mlgate.server.admission import AdmissionRequest, ReviewError
from mlgate.subjects import RequestInfo, Subject, subject_from_object
from webhook_app_support import app_with
from webhook_support import objects, review

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)  # fmt: skip
SEED_BODY = json.dumps(review(objects("ml-prod")["Deployment"])).encode()
# Found before: Python's int-digit limit (500), an unhashable operation (500, by schemathesis).
HUGE_INT = SEED_BODY.replace(b'"replicas": 1', b'"replicas": ' + b"7" * 5001)
DICT_OPERATION = SEED_BODY.replace(b'"operation": "CREATE"', b'"operation": {}')


@SETTINGS
@given(st.one_of(st.binary(max_size=300), mutated_bytes(SEED_BODY), json_values.map(dumps)))
@example(HUGE_INT)
@example(DICT_OPERATION)
def test_parser_returns_a_request_or_a_review_error(body: bytes) -> None:
    try:
        parsed = admission.parse_review(body)
    except ReviewError as err:
        assert err.status in (400, 413) and err.message
        return
    assert isinstance(parsed, AdmissionRequest) and parsed.uid


def test_every_registered_adapter_is_fuzzed() -> None:
    kinds = {kind for _, kind in adapter_targets()}
    assert {"InferenceService", "Deployment", "Pod", "ModelManifest"} <= kinds


@pytest.mark.parametrize("target", adapter_targets(), ids=lambda t: f"{t[0]}:{t[1]}")
def test_adapter_returns_a_subject_none_or_an_input_error(target: tuple[str, str]) -> None:
    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(k8s_objects(target))
    def run(obj: dict) -> None:
        try:
            subject = subject_from_object(obj, RequestInfo(), where="/object", base_dir=None)
        except InputError as err:
            assert str(err)
            return
        assert subject is None or isinstance(subject, Subject)
        if subject is not None:
            assert all(isinstance(m.uri, str) for m in subject.models)

    run()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("fuzz-app")
    test_client, _ = app_with(tmp, None, eval_threads=2)  # the real engine and audit log
    yield test_client
    test_client.__exit__(None, None, None)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    st.one_of(
        k8s_objects().map(lambda o: dumps(review_of(o))),
        mutated_bytes(SEED_BODY),
        st.binary(max_size=200),
    )
)
@example(body=HUGE_INT)
@example(body=DICT_OPERATION)
def test_validate_answers_every_body_with_a_4xx_or_a_decision(client, body: bytes) -> None:
    r = client.post("/validate", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 413), r.text
    doc = r.json()
    if r.status_code == 200:
        response = doc["response"]
        assert isinstance(response["allowed"], bool) and response["uid"]
        if not response["allowed"]:
            assert response["status"]["message"]
    else:
        assert doc["error"] and doc["status"] == r.status_code
