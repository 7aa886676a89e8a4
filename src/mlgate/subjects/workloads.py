"""Deployment, StatefulSet, Job and Pod that serve models.

A workload is a model subject when it carries mlgate annotations or runs a known model
server: Triton (``--model-repository``) or vLLM (``--model`` / ``vllm serve MODEL``).
"""

from __future__ import annotations

from typing import Any

from mlgate.errors import InputError
from mlgate.subjects.base import (
    ANNOTATION_PREFIX,
    ModelRef,
    expect_mapping,
    expect_str,
    model_annotations,
    string_map,
)

# flag -> runtime; "--flag value" and "--flag=value" are both understood.
MODEL_FLAGS = {
    "--model-repository": "triton",
    "--model-store": "triton",
    "--model": "vllm",
    "--model-dir": "generic",
    "--model_dir": "generic",
}
MODEL_URI_ANNOTATION = "mlgate.io/model-uri"


def _template(obj: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """The pod template (metadata + spec) of a workload, or the Pod itself."""
    if obj.get("kind") == "Pod":
        return obj, where
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    if obj.get("kind") == "CronJob":
        job = expect_mapping(spec.get("jobTemplate"), f"{where}/spec/jobTemplate")
        spec = expect_mapping(job.get("spec"), f"{where}/spec/jobTemplate/spec")
        where = f"{where}/spec/jobTemplate"
    return expect_mapping(spec.get("template"), f"{where}/spec/template"), f"{where}/spec/template"


def pod_spec(obj: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    template, twhere = _template(obj, where)
    return expect_mapping(template.get("spec"), f"{twhere}/spec"), f"{twhere}/spec"


def template_annotations(obj: dict[str, Any], where: str) -> dict[str, str]:
    """Annotations on the pod template: mlgate annotations may live there instead."""
    if obj.get("kind") == "Pod":
        return {}
    template, twhere = _template(obj, where)
    meta = expect_mapping(template.get("metadata"), f"{twhere}/metadata")
    return string_map(meta.get("annotations"), f"{twhere}/metadata/annotations")


def _args_models(args: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for i, arg in enumerate(args):
        flag, _, inline = arg.partition("=")
        if flag in MODEL_FLAGS:
            value = inline if inline else (args[i + 1] if i + 1 < len(args) else "")
            if value:
                found.append((value, MODEL_FLAGS[flag]))
    # `vllm serve MODEL ...`
    for i in range(len(args) - 2):
        if args[i].endswith("vllm") and args[i + 1] == "serve" and not args[i + 2].startswith("-"):
            found.append((args[i + 2], "vllm"))
    return found


def workload_models(obj: dict[str, Any], annotations: dict[str, str], where: str) -> list[ModelRef]:
    spec, spec_where = pod_spec(obj, where)
    template_annotations = annotations
    refs: list[ModelRef] = []
    containers = spec.get("containers") or []
    if not isinstance(containers, list):
        raise InputError("containers must be a list", location=f"{spec_where}/containers")
    for i, container in enumerate(containers):
        c = expect_mapping(container, f"{spec_where}/containers/{i}")
        cname = str(c.get("name", i))
        words: list[str] = []
        for key in ("command", "args"):
            value = c.get(key) or []
            if not isinstance(value, list):
                raise InputError(
                    f"{key} must be a list", location=f"{spec_where}/containers/{i}/{key}"
                )
            words += [expect_str(w, f"{spec_where}/containers/{i}/{key}") for w in value]
        for uri, runtime in _args_models(words):
            component = f"container/{cname}"
            refs.append(
                ModelRef(
                    component=component,
                    uri=uri,
                    annotations=model_annotations(template_annotations, component),
                    runtime=runtime,
                )
            )
    explicit = annotations.get(MODEL_URI_ANNOTATION)
    if explicit and not any(r.uri == explicit for r in refs):
        refs.append(
            ModelRef(
                component="workload",
                uri=explicit,
                annotations=model_annotations(annotations, "workload"),
            )
        )
    if not refs and any(k.startswith(ANNOTATION_PREFIX) for k in annotations):
        # Annotated as a model workload but no model found: still a subject, so the policy
        # can deny it instead of the webhook silently allowing it.
        refs.append(
            ModelRef(
                component="workload", uri="", annotations=model_annotations(annotations, "workload")
            )
        )
    return refs
