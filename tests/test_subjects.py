"""Source adapters: every model reference is found, malformed objects are named precisely."""

from __future__ import annotations

import pytest

from mlgate.errors import InputError
from mlgate.subjects import RequestInfo, subject_from_object
from mlgate.subjects.base import uri_digest, uri_scheme

INFO = RequestInfo(namespace_labels={"mlgate.io/environment": "staging"})
DIGEST = "sha256:" + "ab" * 32
IMAGES = {"vllm": "vllm/vllm-openai:v0.6.3", "triton": "nvcr.io/nvidia/tritonserver:24.08-py3"}


def isvc(spec: dict, annotations: dict | None = None) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "fraud", "namespace": "risk", "annotations": annotations or {}},
        "spec": spec,
    }


def test_kserve_every_component_and_legacy_field() -> None:
    obj = isvc(
        {
            "predictor": {
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/predictor"},
                "xgboost": {"storageUri": "gs://m/legacy"},
                "storageUris": [{"uri": "pvc://vol/extra"}],
            },
            "transformer": {"storageUri": "oci://reg/transformer@" + DIGEST},
            "explainer": {"model": {"storageUri": "hf://org/explainer"}},
        },
        {
            "mlgate.io/model-digest": DIGEST,
            "mlgate.io/model-digest.transformer": "sha256:" + "cd" * 32,
        },
    )
    subject = subject_from_object(obj, INFO)
    assert subject is not None
    uris = {(m.component, m.uri) for m in subject.models}
    assert uris == {
        ("predictor", "s3://m/predictor"),
        ("predictor", "gs://m/legacy"),
        ("predictor/storageUris/0", "pvc://vol/extra"),
        ("transformer", "oci://reg/transformer@" + DIGEST),
        ("explainer", "hf://org/explainer"),
    }
    by_component = {m.component: m for m in subject.models}
    # Five models: the object-wide digest names none of them (issue 9); the transformer's
    # own annotation names it.
    assert "mlgate.io/model-digest" not in by_component["predictor"].annotations
    assert by_component["predictor"].evidence == "none"
    assert (
        by_component["transformer"].annotations["mlgate.io/model-digest"] == "sha256:" + "cd" * 32
    )
    assert by_component["transformer"].evidence == "reference"
    assert subject.environment == "staging"


def test_seldon_model() -> None:
    obj = {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris", "namespace": "ml"},
        "spec": {"storageUri": "gs://seldon/iris", "requirements": ["sklearn"]},
    }
    subject = subject_from_object(obj, INFO)
    assert subject is not None
    assert [(m.uri, m.format) for m in subject.models] == [("gs://seldon/iris", "sklearn")]


@pytest.mark.parametrize(
    ("kind", "api", "args", "expected"),
    [
        ("Deployment", "apps/v1", ["--model", "hf://meta/llama"], [("hf://meta/llama", "vllm")]),
        (
            "StatefulSet",
            "apps/v1",
            ["--model-repository=s3://triton/repo"],
            [("s3://triton/repo", "triton")],
        ),
        (
            "Job",
            "batch/v1",
            ["vllm", "serve", "s3://m/qwen", "--port", "8000"],
            [("s3://m/qwen", "vllm")],
        ),
    ],
)
def test_workloads_find_model_server_arguments(kind, api, args, expected) -> None:
    # The runtime comes from the image (params.yaml model_servers), the model from the args.
    obj = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "llm", "namespace": "ml"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"mlgate.io/model-digest": DIGEST}},
                "spec": {
                    "containers": [
                        {"name": "server", "image": IMAGES[expected[0][1]], "args": args}
                    ]
                },
            }
        },
    }
    subject = subject_from_object(obj, INFO)
    assert subject is not None
    assert [(m.uri, m.runtime) for m in subject.models] == expected
    assert subject.models[0].annotations["mlgate.io/model-digest"] == DIGEST


def test_pod_with_annotation_but_no_model_is_still_a_subject() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"mlgate.io/model-digest": DIGEST}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    subject = subject_from_object(pod, INFO)
    assert subject is not None and subject.models[0].uri == ""


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}},
    ],
)  # fmt: skip
def test_objects_without_models_are_not_subjects(obj) -> None:
    assert subject_from_object(obj, INFO) is None


@pytest.mark.parametrize(
    ("obj", "where"),
    [
        (isvc({"predictor": "nope"}), "/spec/predictor"),
        (isvc({"predictor": {"model": {"storageUri": 42}}}), "/spec/predictor/model/storageUri"),
        (isvc({"predictor": {"storageUris": "s3://x"}}), "/spec/predictor/storageUris"),
        ({**isvc({}), "metadata": {"name": "x", "annotations": {"a": 1}}}, "/metadata/annotations/a"),
        ({"apiVersion": "v1", "metadata": {}}, "/kind"),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
          "spec": {"template": {"spec": {"containers": [{"args": "--model x"}]}}}},
         "/spec/template/spec/containers/0/args"),
    ],
)  # fmt: skip
def test_malformed_objects_name_the_json_path(obj, where) -> None:
    with pytest.raises(InputError) as info:
        subject_from_object(obj, INFO)
    assert info.value.location is not None and info.value.location.endswith(where)


def test_uri_helpers() -> None:
    assert uri_scheme("s3://b/k") == "s3"
    assert uri_scheme("/mnt/models") == "file"
    assert uri_digest("oci://reg/m@" + DIGEST) == DIGEST
    assert uri_digest("oci://reg/m:latest") is None
    assert uri_digest("hf://org/m:" + "a" * 40) == "git-sha1:" + "a" * 40


def test_environment_comes_from_the_namespace_not_the_object() -> None:
    # A deployer controls the object's labels; labelling it "development" must not relax rules.
    obj = isvc({"predictor": {"model": {"storageUri": "s3://m/p"}}})
    obj["metadata"]["labels"] = {"mlgate.io/environment": "development"}
    assert subject_from_object(obj, RequestInfo()).environment == "production"
    assert subject_from_object(obj, INFO).environment == "staging"
