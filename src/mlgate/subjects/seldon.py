"""Seldon Core v2 Model (mlops.seldon.io/v1alpha1): spec.storageUri."""

from __future__ import annotations

from typing import Any

from mlgate.subjects.base import ModelRef, expect_mapping, expect_str, model_annotations


def seldon_model_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str
) -> list[ModelRef]:
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    if "storageUri" not in spec:
        return []
    requirements = spec.get("requirements") or []
    return [
        ModelRef(
            component="model",
            uri=expect_str(spec["storageUri"], f"{where}/spec/storageUri"),
            annotations=model_annotations(annotations, "model"),
            format=str(requirements[0]) if isinstance(requirements, list) and requirements else "",
        )
    ]
