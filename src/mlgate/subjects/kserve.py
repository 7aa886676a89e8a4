"""KServe InferenceService (serving.kserve.io/v1beta1): every storage URI it will load."""

from __future__ import annotations

from typing import Any

from mlgate.errors import InputError
from mlgate.subjects.base import ModelRef, expect_mapping, expect_str, model_annotations

# Legacy framework-specific predictor fields (pre "model:" format).
LEGACY_FRAMEWORKS = (
    "sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "pmml", "lightgbm",
    "paddle", "huggingface",
)  # fmt: skip
COMPONENTS = ("predictor", "transformer", "explainer")


def _component_refs(
    component: str, spec: dict[str, Any], annotations: dict[str, str], where: str
) -> list[ModelRef]:
    refs: list[ModelRef] = []
    model = expect_mapping(spec.get("model"), f"{where}/model")
    if "storageUri" in model:
        fmt = expect_mapping(model.get("modelFormat"), f"{where}/model/modelFormat")
        refs.append(
            ModelRef(
                component=component,
                uri=expect_str(model["storageUri"], f"{where}/model/storageUri"),
                annotations=model_annotations(annotations, component),
                format=str(fmt.get("name", "")),
                runtime=str(model.get("runtime", "")),
                version=str(fmt.get("version", "")),
            )
        )
    for framework in LEGACY_FRAMEWORKS:
        legacy = spec.get(framework)
        if isinstance(legacy, dict) and "storageUri" in legacy:
            refs.append(
                ModelRef(
                    component=component,
                    uri=expect_str(legacy["storageUri"], f"{where}/{framework}/storageUri"),
                    annotations=model_annotations(annotations, component),
                    format=framework,
                )
            )
    if "storageUri" in spec:  # custom containers: spec.<component>.storageUri
        refs.append(
            ModelRef(
                component=component,
                uri=expect_str(spec["storageUri"], f"{where}/storageUri"),
                annotations=model_annotations(annotations, component),
            )
        )
    storage_uris = spec.get("storageUris") or model.get("storageUris") or []
    if not isinstance(storage_uris, list):
        raise InputError("storageUris must be a list", location=f"{where}/storageUris")
    for i, item in enumerate(storage_uris):
        uri = item.get("uri") if isinstance(item, dict) else item
        sub = f"{component}/storageUris/{i}"
        refs.append(
            ModelRef(
                component=sub,
                uri=expect_str(uri, f"{where}/storageUris/{i}"),
                annotations=model_annotations(annotations, sub),
            )
        )
    return refs


def inference_service_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str
) -> list[ModelRef]:
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    refs: list[ModelRef] = []
    for component in COMPONENTS:
        part = spec.get(component)
        if part is None:
            continue
        refs += _component_refs(
            component,
            expect_mapping(part, f"{where}/spec/{component}"),
            annotations,
            f"{where}/spec/{component}",
        )
    return refs
