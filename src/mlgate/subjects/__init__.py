"""Source adapters: turn an object (admission or CI) into a Subject with model references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.errors import InputError
from mlgate.subjects.base import (
    ENVIRONMENT_LABEL,
    ModelRef,
    RequestInfo,
    Subject,
    expect_mapping,
    metadata,
)
from mlgate.subjects.binding import bind_evidence, pin_revisions
from mlgate.subjects.kserve import inference_service_models
from mlgate.subjects.manifest import manifest_parts
from mlgate.subjects.seldon import seldon_model_models
from mlgate.subjects.verifiers import kserve_source, verification_steps
from mlgate.subjects.workloads import pod_spec, template_annotations, workload_models

__all__ = [
    "ENVIRONMENT_LABEL",
    "ModelRef",
    "RequestInfo",
    "Subject",
    "subject_from_object",
    "supported_kinds",
]

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob", "Pod", "DaemonSet", "ReplicaSet"}


def supported_kinds() -> list[str]:
    return sorted({"InferenceService", "Model", "ModelManifest", *WORKLOAD_KINDS})


def subject_from_object(
    obj: Any, info: RequestInfo, *, where: str = "", base_dir: Path | None = None
) -> Subject | None:
    """The Subject for a model-bearing object; ``None`` for kinds that carry no model.

    Raises InputError (naming the JSON path) for a model-bearing object that is malformed.
    """
    obj = expect_mapping(obj, where or "/")
    kind = obj.get("kind")
    api_version = obj.get("apiVersion", "")
    if not isinstance(kind, str) or not kind:
        raise InputError("object has no kind", location=f"{where}/kind")
    if not isinstance(api_version, str):
        raise InputError("apiVersion must be a string", location=f"{where}/apiVersion")
    group = api_version.split("/")[0] if "/" in api_version else ""
    name, namespace, labels, annotations = metadata(obj, where)
    declared: dict[str, Any] = {}
    if kind == "InferenceService" and group == "serving.kserve.io":
        models = inference_service_models(obj, annotations, where)
    elif kind == "Model" and group == "mlops.seldon.io":
        models = seldon_model_models(obj, annotations, where)
    elif kind == "ModelManifest" and group == "mlgate.io":
        models, declared = manifest_parts(obj, base_dir, where)
    elif kind in WORKLOAD_KINDS and group in ("", "apps", "batch"):
        annotations = {**annotations, **template_annotations(obj, where)}
        models = workload_models(obj, annotations, where)
    else:
        return None
    if not models:
        return None
    # --- evidence binding (issue 9): keep below the adapters so new kinds get it too ---
    verifiers: list[dict[str, Any]] = []
    if kind in WORKLOAD_KINDS:
        pod_annotations = annotations if kind == "Pod" else template_annotations(obj, where)
        spec = pod_spec(obj, where)[0]
        verifiers = verification_steps(spec, pod_annotations)
        models = pin_revisions(kserve_source(models, pod_annotations), spec)
    if not declared:
        models = bind_evidence(models, annotations, where)
    controller = controller_of(obj)
    if declared:
        deployer = declared.get("deployer") or {}
        groups = deployer.get("groups", list(info.groups))
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise InputError(
                "spec.deployer.groups must be a list of strings",
                location=f"{where}/spec/deployer/groups",
            )
        info = RequestInfo(
            operation=info.operation,
            username=str(deployer.get("username", info.username)),
            groups=tuple(groups),
            namespace_labels=info.namespace_labels,
            dry_run=info.dry_run,
            source="manifest",
            environment=declared.get("environment") or info.environment,
        )
    return Subject(
        kind=kind,
        api_version=api_version,
        name=name,
        namespace=namespace,
        info=info,
        labels=labels,
        annotations=annotations,
        models=models,
        verifiers=verifiers,
        controller=controller,
        declared_card=declared.get("card"),
        declared_evidence=declared.get("evidence"),
        declared_approvals=declared.get("approvals"),
        declared_gates=declared.get("gates"),
        where=where,
    )


def controller_of(obj: dict[str, Any]) -> dict[str, str] | None:
    """The owner with ``controller: true``: the object was created on that parent's behalf."""
    owners = (obj.get("metadata") or {}).get("ownerReferences")
    for owner in owners if isinstance(owners, list) else []:
        if isinstance(owner, dict) and owner.get("controller") is True:
            return {k: str(owner.get(k, "")) for k in ("apiVersion", "kind", "name", "uid")}
    return None
