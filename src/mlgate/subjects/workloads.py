"""Workloads that run pods: Kubernetes built-ins, Argo Rollout, Knative Service, LeaderWorkerSet.

Each kind is reduced to its pod templates; podspec.py reads every container of each.
"""

from __future__ import annotations

from typing import Any

from mlgate.subjects.base import ModelRef, expect_mapping, string_map
from mlgate.subjects.podspec import pod_spec_refs
from mlgate.subjects.servers import ServerCatalog

MODEL_URI_ANNOTATION = "mlgate.io/model-uri"

# A template is (prefix for component names, pod template (metadata+spec), JSON path).
Template = tuple[str, dict[str, Any], str]


def _spec(obj: dict[str, Any], where: str) -> dict[str, Any]:
    return expect_mapping(obj.get("spec"), f"{where}/spec")


def _template_at(spec: dict[str, Any], key: str, where: str, prefix: str = "") -> list[Template]:
    if spec.get(key) is None:
        return []
    return [(prefix, expect_mapping(spec.get(key), f"{where}/{key}"), f"{where}/{key}")]


def builtin_templates(obj: dict[str, Any], where: str) -> list[Template]:
    """Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Rollout, Knative."""
    kind = obj.get("kind")
    if kind == "Pod":
        return [("", {"spec": obj.get("spec")}, where)]
    spec = _spec(obj, where)
    if kind == "CronJob":
        job = expect_mapping(spec.get("jobTemplate"), f"{where}/spec/jobTemplate")
        jwhere = f"{where}/spec/jobTemplate/spec"
        return _template_at(expect_mapping(job.get("spec"), jwhere), "template", jwhere)
    return _template_at(spec, "template", f"{where}/spec")


def lws_templates(obj: dict[str, Any], where: str) -> list[Template]:
    """LeaderWorkerSet: the leader's and the workers' pod templates."""
    spec = _spec(obj, where)
    lwt = expect_mapping(spec.get("leaderWorkerTemplate"), f"{where}/spec/leaderWorkerTemplate")
    lw = f"{where}/spec/leaderWorkerTemplate"
    return _template_at(lwt, "leaderTemplate", lw, "leader/") + _template_at(
        lwt, "workerTemplate", lw, "worker/"
    )


def template_annotations(templates: list[Template]) -> dict[str, str]:
    """Annotations on the pod templates: mlgate annotations may live there instead."""
    out: dict[str, str] = {}
    for _, template, twhere in templates:
        meta = expect_mapping(template.get("metadata"), f"{twhere}/metadata")
        out |= string_map(meta.get("annotations"), f"{twhere}/metadata/annotations")
    return out


def templates_refs(
    templates: list[Template], annotations: dict[str, str], catalog: ServerCatalog
) -> list[ModelRef]:
    refs: list[ModelRef] = []
    for prefix, template, twhere in templates:
        spec = expect_mapping(template.get("spec"), f"{twhere}/spec")
        refs += pod_spec_refs(spec, f"{twhere}/spec", annotations, catalog, prefix)
    return refs
