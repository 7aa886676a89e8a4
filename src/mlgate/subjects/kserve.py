"""KServe (serving.kserve.io): InferenceService, TrainedModel, LLMInferenceService and the
ServingRuntime / ClusterServingRuntime images that serve them.

An InferenceService component (predictor, transformer, explainer) may name its model in
``model`` (storageUri, ModelMesh ``storage.key/path``, the HuggingFace runtime's
``--model_id`` in ``model.args``), a legacy framework field, ``storageUri``/``storageUris``,
an explainer field (``art``, ``alibi``) or the command line of its own containers.
"""

from __future__ import annotations

from typing import Any

from mlgate.errors import InputError
from mlgate.subjects.base import ModelRef, expect_mapping, expect_str, model_annotations
from mlgate.subjects.commandline import scan_container
from mlgate.subjects.podspec import IDLE_SERVER, containers, pod_spec_refs, scan_refs
from mlgate.subjects.servers import ServerCatalog

# Legacy framework-specific predictor fields (pre "model:" format) and explainer fields.
LEGACY_FRAMEWORKS = (
    "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "pmml", "lightgbm",
    "paddle", "huggingface", "art", "alibi",
)  # fmt: skip
COMPONENTS = ("predictor", "transformer", "explainer")
LLM_RUNTIME = "kserve-llm"
HF_FORMAT = "huggingface"
KSERVE_MOUNT = "/mnt/models"  # where KServe's storage initializer puts storageUri


def _ref(component: str, uri: str, annotations: dict[str, str], **kw: Any) -> ModelRef:
    return ModelRef(
        component=component, uri=uri, annotations=model_annotations(annotations, component), **kw
    )


def modelmesh_uri(storage: dict[str, Any], where: str) -> str:
    """ModelMesh ``storage``: a storageUri, or a storage-config secret key plus a path."""
    if "storageUri" in storage:
        return expect_str(storage["storageUri"], f"{where}/storageUri")
    key = expect_str(storage.get("key", "default"), f"{where}/key")
    path = expect_str(storage.get("path", ""), f"{where}/path")
    bucket = expect_mapping(storage.get("parameters"), f"{where}/parameters").get("bucket")
    return f"storage://{key}/" + (f"{bucket}/" if isinstance(bucket, str) else "") + path


def _model_spec_refs(
    component: str,
    model: dict[str, Any],
    annotations: dict[str, str],
    where: str,
    fmt: str,
    catalog: ServerCatalog,
) -> list[ModelRef]:
    """``spec.<component>.model`` or a legacy framework field (both are containers too)."""
    runtime = str(model.get("runtime", ""))
    version = ""
    if "modelFormat" in model:
        mf = expect_mapping(model.get("modelFormat"), f"{where}/modelFormat")
        fmt, version = str(mf.get("name", "")), str(mf.get("version", ""))
    refs = []
    if "storageUri" in model:
        uri = expect_str(model["storageUri"], f"{where}/storageUri")
        refs.append(_ref(component, uri, annotations, format=fmt, runtime=runtime, version=version))
    if "storage" in model:
        uri = modelmesh_uri(
            expect_mapping(model["storage"], f"{where}/storage"), f"{where}/storage"
        )
        refs.append(_ref(component, uri, annotations, format=fmt, runtime=runtime, version=version))
    scan = scan_container(model, where)  # e.g. the HuggingFace runtime's --model_id
    server = catalog.match(str(model.get("image", "")))
    hint = runtime or (server.runtime if server else "")
    known = {r.uri for r in refs}
    # KServe downloads storageUri to /mnt/models: --model_dir=/mnt/models is that model.
    scan.models = [
        m for m in scan.models
        if m.uri not in known and not (refs and m.uri.startswith(KSERVE_MOUNT))
    ]  # fmt: skip
    if refs:
        scan.runtimes.clear()  # the model is named: the runtime is not idle
    elif fmt == HF_FORMAT and not scan.models and not scan.unresolved:
        scan.unresolved.append(
            "the huggingface model format needs storageUri or --model_id, and neither is set"
        )
    hint = hint or ("kserve-huggingface" if fmt == HF_FORMAT else "")
    extra = scan_refs(scan, component if not refs else f"{component}/args", hint, annotations)
    if refs:  # the model is named in storageUri/storage: the server is not idle
        extra = [r for r in extra if r.role != IDLE_SERVER]
    return refs + [
        ModelRef(**{**r.__dict__, "format": r.format or fmt, "version": r.version or version})
        for r in extra
    ]


def _component_refs(
    component: str,
    spec: dict[str, Any],
    annotations: dict[str, str],
    where: str,
    catalog: ServerCatalog,
) -> list[ModelRef]:
    refs: list[ModelRef] = []
    if spec.get("model") is not None:
        model = expect_mapping(spec.get("model"), f"{where}/model")
        refs += _model_spec_refs(component, model, annotations, f"{where}/model", "", catalog)
    for framework in LEGACY_FRAMEWORKS:
        legacy = spec.get(framework)
        if isinstance(legacy, dict):
            lwhere = f"{where}/{framework}"
            refs += _model_spec_refs(component, legacy, annotations, lwhere, framework, catalog)
    if "storageUri" in spec:  # custom containers: spec.<component>.storageUri
        refs.append(
            _ref(component, expect_str(spec["storageUri"], f"{where}/storageUri"), annotations)
        )
    model = expect_mapping(spec.get("model"), f"{where}/model")
    storage_uris = spec.get("storageUris") or model.get("storageUris") or []
    if not isinstance(storage_uris, list):
        raise InputError("storageUris must be a list", location=f"{where}/storageUris")
    for i, item in enumerate(storage_uris):
        uri = item.get("uri") if isinstance(item, dict) else item
        refs.append(
            _ref(
                f"{component}/storageUris/{i}",
                expect_str(uri, f"{where}/storageUris/{i}"),
                annotations,
            )
        )
    # The component's own pod spec (custom predictors, transformers, explainers).
    named = {r.uri for r in refs}
    for ref in pod_spec_refs(spec, where, annotations, catalog, f"{component}/"):
        if ref.uri and (ref.uri in named or (refs and ref.uri.startswith(KSERVE_MOUNT))):
            continue  # STORAGE_URI env of the kserve-container repeats spec.storageUri
        if ref.role != "model" and refs:
            continue  # the component's model is named outside its containers
        refs.append(ref)
    worker = spec.get("workerSpec")
    if worker is not None:
        wwhere = f"{where}/workerSpec"
        refs += pod_spec_refs(
            expect_mapping(worker, wwhere), wwhere, annotations, catalog, f"{component}/worker/"
        )
    return refs


def inference_service_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    refs: list[ModelRef] = []
    for component in COMPONENTS:
        part = spec.get(component)
        if part is None:
            continue
        cwhere = f"{where}/spec/{component}"
        refs += _component_refs(
            component, expect_mapping(part, cwhere), annotations, cwhere, catalog
        )
    return refs


def trained_model_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    """TrainedModel (v1alpha1): a model loaded into a running multi-model InferenceService."""
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    model = expect_mapping(spec.get("model"), f"{where}/spec/model")
    uri = expect_str(model.get("storageUri", ""), f"{where}/spec/model/storageUri")
    fmt = str(model.get("framework", ""))
    if uri:
        return [_ref("model", uri, annotations, format=fmt)]
    return [
        _ref("model", "", annotations, format=fmt, role="unresolved",
             reason="the TrainedModel has no spec.model.storageUri")
    ]  # fmt: skip


def llm_inference_service_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    """LLMInferenceService (v1alpha1): spec.model.uri, its LoRA adapters and pod templates."""
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    model = expect_mapping(spec.get("model"), f"{where}/spec/model")
    refs: list[ModelRef] = []
    uri = model.get("uri")
    if uri is not None:
        refs.append(
            _ref("model", expect_str(uri, f"{where}/spec/model/uri"), annotations,
                 name=str(model.get("name", "")), runtime=LLM_RUNTIME)
        )  # fmt: skip
    lora = expect_mapping(model.get("lora"), f"{where}/spec/model/lora")
    adapters = lora.get("adapters") or []
    if not isinstance(adapters, list):
        raise InputError("adapters must be a list", location=f"{where}/spec/model/lora/adapters")
    for i, item in enumerate(adapters):
        awhere = f"{where}/spec/model/lora/adapters/{i}"
        adapter = expect_mapping(item, awhere)
        name = str(adapter.get("name") or i)
        refs.append(
            _ref(f"model/lora/{name}", expect_str(adapter.get("uri", ""), f"{awhere}/uri"),
                 annotations, name=name, runtime=LLM_RUNTIME)
        )  # fmt: skip
    for key in ("template", "worker"):
        if spec.get(key) is not None:
            pwhere = f"{where}/spec/{key}"
            refs += pod_spec_refs(
                expect_mapping(spec[key], pwhere), pwhere, annotations, catalog, f"{key}/"
            )
    prefill = expect_mapping(spec.get("prefill"), f"{where}/spec/prefill")
    for key in ("template", "worker"):
        if prefill.get(key) is not None:
            pwhere = f"{where}/spec/prefill/{key}"
            refs += pod_spec_refs(
                expect_mapping(prefill[key], pwhere),
                pwhere,
                annotations,
                catalog,
                f"prefill/{key}/",
            )
    if not any(r.role == "model" and r.uri for r in refs):
        refs.append(
            _ref("model", "", annotations, runtime=LLM_RUNTIME, role="unresolved",
                 reason="the LLMInferenceService names no model in spec.model.uri")
        )  # fmt: skip
    # The templates' server containers serve spec.model.uri: they are not idle.
    return [r for r in refs if r.role != IDLE_SERVER]


def serving_runtime_images(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    """ServingRuntime / ClusterServingRuntime: every image must be pinned by digest."""
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    refs = []
    for container, cwhere in containers(spec, f"{where}/spec"):
        name = str(container.get("name", "")) or cwhere.rsplit("/", 1)[-1]
        image = expect_str(container.get("image", ""), f"{cwhere}/image")
        server = catalog.match(image)
        refs.append(
            _ref(f"container/{name}", image, annotations, role="runtime-image",
                 runtime=server.runtime if server else "")
        )  # fmt: skip
    return refs
