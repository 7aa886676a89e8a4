"""Source adapters: turn an object (admission or CI) into a Subject with model references.

Each adapter reports one model reference per thing it loads and fails closed on what it cannot
read. May import: ``mlgate.errors``, ``mlgate.policyset``, ``mlgate.shapes`` and
``mlgate.cli.cmd_verify`` (the pod-start verifier's argument reader, so the adapter reads
exactly what the verifier runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.errors import InputError
from mlgate.shapes import mapping
from mlgate.subjects.base import (
    ENVIRONMENT_LABEL,
    ModelRef,
    RequestInfo,
    Subject,
    expect_mapping,
    metadata,
    model_annotations,
)
from mlgate.subjects.binding import bind_evidence, pin_revisions
from mlgate.subjects.kinds import ADAPTERS, NO_MODEL_KINDS, KindAdapter, adapter_for
from mlgate.subjects.manifest import manifest_parts
from mlgate.subjects.podspec import resolve_idle
from mlgate.subjects.servers import ServerCatalog, shipped_catalog
from mlgate.subjects.verifiers import bind_verified_paths, kserve_source, verification_steps
from mlgate.subjects.workloads import MODEL_URI_ANNOTATION, Template, template_annotations

__all__ = [
    "ADAPTERS",
    "DECLARE_MODELS_LABEL",
    "ENVIRONMENT_LABEL",
    "KindAdapter",
    "ModelRef",
    "RequestInfo",
    "ServerCatalog",
    "Subject",
    "expand_lists",
    "runs_pods",
    "skip_reason",
    "subject_from_object",
    "supported_kinds",
]

ANNOTATION_PREFIX = "mlgate.io/"
MODELS_ANNOTATION = "mlgate.io/models"
# A namespace with this label set to "true" requires every workload to declare its models
# (mlgate.io/model-uri or mlgate.io/models; "none" for a workload that loads none).
DECLARE_MODELS_LABEL = "mlgate.io/require-declared-models"


def supported_kinds() -> list[str]:
    return sorted({a.kind for a in ADAPTERS} | {"ModelManifest"})


def _group(obj: dict[str, Any], where: str) -> tuple[str, str, str]:
    kind = obj.get("kind")
    api_version = obj.get("apiVersion", "")
    if not isinstance(kind, str) or not kind:
        raise InputError("object has no kind", location=f"{where}/kind")
    if not isinstance(api_version, str):
        raise InputError("apiVersion must be a string", location=f"{where}/apiVersion")
    group = api_version.split("/")[0] if "/" in api_version else ""
    return kind, api_version, group


def _declared_models(annotations: dict[str, str]) -> bool:
    return bool(annotations.get(MODEL_URI_ANNOTATION) or annotations.get(MODELS_ANNOTATION))


def _explicit_and_annotated(
    refs: list[ModelRef], annotations: dict[str, str], adapter: KindAdapter
) -> list[ModelRef]:
    """The model named by mlgate.io/model-uri, and a placeholder for an object that carries
    mlgate annotations but shows no model (the policy denies it instead of nothing)."""
    explicit = annotations.get(MODEL_URI_ANNOTATION)
    if explicit and explicit != "none" and not any(r.uri == explicit for r in refs):
        refs.append(
            ModelRef(component="workload", uri=explicit,
                     annotations=model_annotations(annotations, "workload"))
        )  # fmt: skip
    mlgate_keys = [k for k in annotations if k.startswith(ANNOTATION_PREFIX)]
    if not refs and adapter.pods and mlgate_keys and explicit != "none":
        refs.append(
            ModelRef(component="workload", uri="", role="unresolved",
                     annotations=model_annotations(annotations, "workload"),
                     reason="the object carries mlgate annotations but no model was found in it")
        )  # fmt: skip
    return refs


def subject_from_object(
    obj: Any,
    info: RequestInfo,
    *,
    where: str = "",
    base_dir: Path | None = None,
    servers: ServerCatalog | None = None,
) -> Subject | None:
    """The Subject for a model-bearing object; ``None`` for kinds that carry no model.

    Raises InputError (naming the JSON path) for a model-bearing object that is malformed.
    A workload in a namespace labelled ``mlgate.io/require-declared-models=true`` that
    declares no model is a subject too (its placeholder reference is denied).
    """
    obj = expect_mapping(obj, where or "/")
    kind, api_version, group = _group(obj, where)
    name, namespace, labels, annotations = metadata(obj, where)
    declared: dict[str, Any] = {}
    adapter = adapter_for(group, kind)
    templates: list[Template] = []
    if kind == "ModelManifest" and group == "mlgate.io":
        models, declared = manifest_parts(obj, base_dir, where)
    elif adapter is not None:
        catalog = servers if servers is not None else shipped_catalog()
        templates = adapter.templates(obj, where) if adapter.templates else []
        if templates:
            annotations = {**annotations, **template_annotations(templates)}
        models = resolve_idle(adapter.refs(obj, annotations, where, catalog))
        models = _explicit_and_annotated(models, annotations, adapter)
        requires = info.namespace_labels.get(DECLARE_MODELS_LABEL) == "true"
        if not models and adapter.pods and requires and not _declared_models(annotations):
            models = [
                ModelRef(component="workload", uri="", role="undeclared",
                         annotations=model_annotations(annotations, "workload"),
                         reason=f"the namespace requires declared models ({DECLARE_MODELS_LABEL})")
            ]  # fmt: skip
    else:
        return None
    if not models:
        return None
    # --- evidence binding (issue 9): keep below the adapters so new kinds get it too ---
    pod_annotations = annotations if kind == "Pod" else None
    verifiers = _verifiers(templates, pod_annotations, namespace)
    models = bind_verified_paths(_bind_templates(models, templates, pod_annotations), verifiers)
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


def _pods(
    templates: list[Template], pod_annotations: dict[str, str] | None
) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(template prefix, pod spec, the pod's annotations) of every pod template."""
    out = []
    for prefix, template, _ in templates:
        spec = mapping(template.get("spec"))
        meta = mapping(template.get("metadata"))
        own = mapping(meta.get("annotations"))
        out.append((prefix, spec, pod_annotations if pod_annotations is not None else own))
    return out


def _verifiers(
    templates: list[Template], pod_annotations: dict[str, str] | None, namespace: str
) -> list[dict[str, Any]]:
    """Pod-start verification steps of every pod template (issue 9's verifiers module)."""
    steps: list[dict[str, Any]] = []
    for prefix, spec, pod in _pods(templates, pod_annotations):
        steps += verification_steps(spec, pod, prefix, namespace or None)
    return steps


def _bind_templates(
    models: list[ModelRef], templates: list[Template], pod_annotations: dict[str, str] | None
) -> list[ModelRef]:
    """Issue 9 for pods: a KServe-made pod serves its storage URI; --revision pins hf://."""
    for prefix, spec, pod in _pods(templates, pod_annotations):
        models = pin_revisions(kserve_source(models, pod, spec, prefix), spec)
    return models


def runs_pods(obj: Any) -> bool:
    """Whether the object is a kind whose pods could load a model (for namespace rules)."""
    if not isinstance(obj, dict):
        return False
    api_version = obj.get("apiVersion", "")
    group = api_version.split("/")[0] if isinstance(api_version, str) and "/" in api_version else ""
    adapter = adapter_for(group, str(obj.get("kind", "")))
    return adapter is not None and adapter.pods


def skip_reason(obj: dict[str, Any]) -> str:
    """Why an object that is not a subject was skipped (for `mlgate check` reports)."""
    kind = str(obj.get("kind", ""))
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.split("/")[0] if "/" in api_version else ""
    reason = NO_MODEL_KINDS.get((group, kind))
    if reason:
        return reason
    if adapter_for(group, kind) is not None:
        return "no model reference: no model field, model flag, model environment variable or model-server image"
    return f"{kind} ({api_version or 'no apiVersion'}) is not a kind that deploys models"


def expand_lists(doc: Any, where: str = "") -> list[tuple[Any, str]]:
    """A ``kind: List`` (``kubectl get -o yaml``) as its items, else the document itself."""
    if isinstance(doc, dict) and doc.get("kind") == "List" and doc.get("apiVersion") == "v1":
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise InputError("items must be a list", location=f"{where}/items")
        out: list[tuple[Any, str]] = []
        for i, item in enumerate(items):
            out += expand_lists(item, f"{where}/items/{i}")
        return out
    return [(doc, where)]


def controller_of(obj: dict[str, Any]) -> dict[str, str] | None:
    """The owner with ``controller: true``: the object was created on that parent's behalf."""
    owners = (obj.get("metadata") or {}).get("ownerReferences")
    for owner in owners if isinstance(owners, list) else []:
        if isinstance(owner, dict) and owner.get("controller") is True:
            return {k: str(owner.get(k, "")) for k in ("apiVersion", "kind", "name", "uid")}
    return None
