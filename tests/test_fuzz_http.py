"""Schema-driven fuzzing of the HTTP API (schemathesis) against a real `mlgate serve` over TLS.

The OpenAPI document below describes what the API server may send (AdmissionReview v1) and
what mlgate answers. Schemathesis generates conforming and non-conforming requests from it;
every answer must be a documented status (never a 5xx) with a body matching its schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from webhook_support import Server, issue_certs

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
ERROR = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {"error": {"type": "string", "minLength": 1}, "status": {"type": "integer"}},
}
OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata"],
    "properties": {
        "apiVersion": {"enum": ["serving.kserve.io/v1beta1", "apps/v1", "v1", "mlgate.io/v1"]},
        "kind": {"enum": ["InferenceService", "Deployment", "Pod", "ModelManifest", "ConfigMap"]},
        "metadata": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "annotations": STRING_MAP,
                "labels": STRING_MAP,
            },
        },
        "spec": {"type": "object"},
    },
}
GVK = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "group": {"type": "string"},
        "version": {"type": "string"},
        "kind": {"type": "string"},
    },
}
REVIEW = {
    "type": "object",
    "required": ["apiVersion", "kind", "request"],
    "properties": {
        "apiVersion": {"const": "admission.k8s.io/v1"},
        "kind": {"const": "AdmissionReview"},
        "request": {
            "type": "object",
            "required": ["uid", "kind", "operation"],
            "properties": {
                "uid": {"type": "string", "minLength": 1},
                "kind": GVK,
                "operation": {"enum": ["CREATE", "UPDATE", "DELETE", "CONNECT"]},
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "dryRun": {"type": "boolean"},
                "userInfo": {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string"},
                        "groups": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "object": OBJECT,
                "oldObject": OBJECT,
            },
        },
    },
}
REVIEW_RESPONSE = {
    "type": "object",
    "required": ["apiVersion", "kind", "response"],
    "properties": {
        "response": {
            "type": "object",
            "required": ["uid", "allowed"],
            "properties": {
                "uid": {"type": "string", "minLength": 1},
                "allowed": {"type": "boolean"},
                "status": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                },
                "warnings": {"type": "array", "items": {"type": "string", "maxLength": 120}},
                "auditAnnotations": STRING_MAP,
            },
        }
    },
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "mlgate admission webhook", "version": "1"},
    "paths": {
        "/validate": {
            "post": {
                "requestBody": {"required": True, **_json(REVIEW)},
                "responses": {
                    "200": {"description": "a decision", **_json(REVIEW_RESPONSE)},
                    "400": {"description": "not an AdmissionReview", **_json(ERROR)},
                    "413": {"description": "too large", **_json(ERROR)},
                },
            }
        },
        "/healthz": {"get": {"responses": {"200": {"description": "alive"}}}},
        "/readyz": {
            "get": {
                "responses": {
                    "200": {"description": "a policy set is enforced"},
                    "503": {"description": "no policy set"},
                }
            }
        },
        "/metrics": {
            "get": {
                "responses": {"200": {"description": "Prometheus", "content": {"text/plain": {}}}}
            }
        },
    },
}

schema = schemathesis.openapi.from_dict(SPEC)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    certs: Path = issue_certs(tmp_path_factory.mktemp("certs"))
    srv = Server(tmp_path_factory.mktemp("schemathesis"), certs).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def session(server: Server):
    with requests.Session() as s:
        s.verify = str(server.certs / "ca.crt")  # real TLS, verified against the test CA
        yield s


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_api_conforms_and_never_errors(case, server: Server, session) -> None:
    case.call_and_validate(
        base_url=server.url,
        session=session,
        checks=CHECKS,
        timeout=15,
        verify=str(server.certs / "ca.crt"),
    )
