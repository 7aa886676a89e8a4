"""Seldon Core: v2 Model and Server (mlops.seldon.io/v1alpha1), v1 SeldonDeployment
(machinelearning.seldon.io/v1)."""

from __future__ import annotations

from typing import Any

from mlgate.errors import InputError
from mlgate.subjects.base import ModelRef, expect_mapping, expect_str, model_annotations
from mlgate.subjects.commandline import model_uri
from mlgate.subjects.podspec import IDLE_SERVER, pod_spec_refs
from mlgate.subjects.servers import ServerCatalog

# Seldon v1 graph parameters that name the model a prepackaged server loads.
MODEL_PARAMETERS = ("pretrained_model", "model_uri", "model_id")
MAX_GRAPH_DEPTH = 32


def seldon_model_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    requirements = spec.get("requirements") or []
    fmt = str(requirements[0]) if isinstance(requirements, list) and requirements else ""
    uri = spec.get("storageUri")
    if uri is None:
        return [
            ModelRef(component="model", uri="", annotations=model_annotations(annotations, "model"),
                     format=fmt, role="unresolved", reason="the Model has no spec.storageUri")
        ]  # fmt: skip
    return [
        ModelRef(
            component="model",
            uri=expect_str(uri, f"{where}/spec/storageUri"),
            annotations=model_annotations(annotations, "model"),
            format=fmt,
        )
    ]


def seldon_server_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    """A Server loads the Model objects scheduled on it; its own pod spec may name more."""
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    if spec.get("podSpec") is None:
        return []
    pwhere = f"{where}/spec/podSpec"
    refs = pod_spec_refs(expect_mapping(spec["podSpec"], pwhere), pwhere, annotations, catalog)
    return [r for r in refs if r.role != IDLE_SERVER]


def _graph_refs(
    node: dict[str, Any], prefix: str, annotations: dict[str, str], where: str, depth: int
) -> list[ModelRef]:
    if depth > MAX_GRAPH_DEPTH:
        raise InputError(f"inference graph deeper than {MAX_GRAPH_DEPTH} levels", location=where)
    name = str(node.get("name", depth))
    component = f"{prefix}graph/{name}"
    implementation = str(node.get("implementation", ""))
    refs: list[ModelRef] = []
    if node.get("modelUri") is not None:
        uri = expect_str(node["modelUri"], f"{where}/modelUri")
        refs.append(
            ModelRef(component=component, uri=uri, format=implementation,
                     annotations=model_annotations(annotations, component))
        )  # fmt: skip
    parameters = node.get("parameters") or []
    if not isinstance(parameters, list):
        raise InputError("parameters must be a list", location=f"{where}/parameters")
    for i, item in enumerate(parameters):
        p = expect_mapping(item, f"{where}/parameters/{i}")
        if p.get("name") in MODEL_PARAMETERS and isinstance(p.get("value"), str):
            sub = component if not refs else f"{component}/{p['name']}"
            refs.append(
                ModelRef(component=sub, uri=model_uri(p["value"], "kserve-huggingface"),
                         format=implementation, annotations=model_annotations(annotations, sub))
            )  # fmt: skip
    if implementation.endswith("_SERVER") and not refs:
        refs.append(
            ModelRef(component=component, uri="", format=implementation, role="unresolved",
                     annotations=model_annotations(annotations, component),
                     reason=f"graph node {name} runs the prepackaged {implementation} without a modelUri")
        )  # fmt: skip
    children = node.get("children") or []
    if not isinstance(children, list):
        raise InputError("children must be a list", location=f"{where}/children")
    for i, child in enumerate(children):
        cwhere = f"{where}/children/{i}"
        refs += _graph_refs(expect_mapping(child, cwhere), prefix, annotations, cwhere, depth + 1)
    return refs


def seldon_deployment_models(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    predictors = spec.get("predictors") or []
    if not isinstance(predictors, list):
        raise InputError("predictors must be a list", location=f"{where}/spec/predictors")
    refs: list[ModelRef] = []
    for i, item in enumerate(predictors):
        pwhere = f"{where}/spec/predictors/{i}"
        predictor = expect_mapping(item, pwhere)
        prefix = f"predictors/{predictor.get('name') or i}/"
        graph = predictor.get("graph")
        if graph is not None:
            refs += _graph_refs(
                expect_mapping(graph, f"{pwhere}/graph"), prefix, annotations, f"{pwhere}/graph", 0
            )
        specs = predictor.get("componentSpecs") or []
        if not isinstance(specs, list):
            raise InputError("componentSpecs must be a list", location=f"{pwhere}/componentSpecs")
        for j, component in enumerate(specs):
            cwhere = f"{pwhere}/componentSpecs/{j}/spec"
            pod = expect_mapping(
                expect_mapping(component, f"{pwhere}/componentSpecs/{j}").get("spec"), cwhere
            )
            refs += pod_spec_refs(pod, cwhere, annotations, catalog, prefix)
    return refs
