"""KubeRay (ray.io/v1): RayCluster, RayService and RayJob.

A Ray cluster's pods are read like any pod template. A RayService also names models in its
Serve config (``serveConfigV2``, a YAML string): Ray Serve LLM ``llm_configs`` with
``model_loading_config.model_source``, or application ``args`` / ``runtime_env.env_vars``.
A RayJob runs a shell ``entrypoint`` on the cluster.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlgate.errors import InputError
from mlgate.subjects.base import ModelRef, expect_mapping, expect_str
from mlgate.subjects.commandline import (
    MODEL_ENV,
    ContainerScan,
    FoundModel,
    model_uri,
    scan_argv,
    shell_env,
)
from mlgate.subjects.podspec import scan_refs
from mlgate.subjects.servers import ServerCatalog
from mlgate.subjects.workloads import Template, templates_refs

RAY_LLM = "ray-llm"
# Keys in Serve application args that name the model to load.
MODEL_KEYS = ("model_source", "model", "model_id", "model_path", "model_uri", "storage_uri")
LLM_IMPORTS = ("ray.serve.llm", "vllm")


def cluster_templates(spec: dict[str, Any], where: str) -> list[Template]:
    """Head and worker-group pod templates of a RayCluster spec."""
    out: list[Template] = []
    head = expect_mapping(spec.get("headGroupSpec"), f"{where}/headGroupSpec")
    if "template" in head:
        out.append(
            ("head/", expect_mapping(head["template"], f"{where}/headGroupSpec/template"),
             f"{where}/headGroupSpec/template")
        )  # fmt: skip
    groups = spec.get("workerGroupSpecs") or []
    if not isinstance(groups, list):
        raise InputError("workerGroupSpecs must be a list", location=f"{where}/workerGroupSpecs")
    for i, group in enumerate(groups):
        g = expect_mapping(group, f"{where}/workerGroupSpecs/{i}")
        gname = str(g.get("groupName") or i)
        gwhere = f"{where}/workerGroupSpecs/{i}/template"
        out.append((f"workers/{gname}/", expect_mapping(g.get("template"), gwhere), gwhere))
    return out


def ray_templates(obj: dict[str, Any], where: str) -> list[Template]:
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    kind = obj.get("kind")
    if kind == "RayCluster":
        return cluster_templates(spec, f"{where}/spec")
    key = "rayClusterConfig" if kind == "RayService" else "rayClusterSpec"
    out: list[Template] = []
    if spec.get(key) is not None:
        out = cluster_templates(
            expect_mapping(spec[key], f"{where}/spec/{key}"), f"{where}/spec/{key}"
        )
    if kind == "RayJob" and spec.get("submitterPodTemplate") is not None:
        swhere = f"{where}/spec/submitterPodTemplate"
        out.append(("submitter/", expect_mapping(spec["submitterPodTemplate"], swhere), swhere))
    return out


def _find_models(value: Any, found: list[str]) -> None:
    """Model names anywhere in Serve application args (nested llm_configs included)."""
    if isinstance(value, dict):
        # model_loading_config: model_id is the served name when model_source is given.
        skip = {"model_id"} if isinstance(value.get("model_source"), str) else set()
        for key, item in value.items():
            if key in skip:
                continue
            if key in MODEL_KEYS and isinstance(item, str) and item.strip():
                found.append(item)
            else:
                _find_models(item, found)
    elif isinstance(value, list):
        for item in value:
            _find_models(item, found)


def serve_config_refs(
    spec: dict[str, Any], where: str, annotations: dict[str, str]
) -> list[ModelRef]:
    raw = spec.get("serveConfigV2")
    if raw is None:
        return []
    text = expect_str(raw, f"{where}/serveConfigV2")
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(
            f"serveConfigV2 is not valid YAML: {err}", location=f"{where}/serveConfigV2"
        ) from None
    apps = expect_mapping(config, f"{where}/serveConfigV2").get("applications") or []
    if not isinstance(apps, list):
        raise InputError(
            "serveConfigV2 applications must be a list", location=f"{where}/serveConfigV2"
        )
    refs: list[ModelRef] = []
    for i, app in enumerate(apps):
        if not isinstance(app, dict):
            continue
        name = str(app.get("name") or i)
        names: list[str] = []
        _find_models(app.get("args"), names)
        env = expect_mapping(expect_mapping(app.get("runtime_env"), "").get("env_vars"), "")
        names += [str(env[k]) for k in MODEL_ENV if isinstance(env.get(k), str) and env[k].strip()]
        scan = ContainerScan()
        for model in dict.fromkeys(names):
            scan.models.append(
                FoundModel(model_uri(model, RAY_LLM), RAY_LLM, origin=f"serve application {name}")
            )
        import_path = str(app.get("import_path", ""))
        llm_config_files = _llm_config_files(app.get("args"))
        if llm_config_files:
            scan.unresolved.append(
                f"serve application {name} reads its LLM configs from files in the image "
                f"({', '.join(llm_config_files)}), which admission cannot see"
            )
        if not scan.models and any(import_path.startswith(p) for p in LLM_IMPORTS):
            scan.runtimes.add(RAY_LLM)
        refs += scan_refs(scan, f"serve/{name}", RAY_LLM, annotations)
    return refs


def _llm_config_files(args: Any) -> list[str]:
    configs = args.get("llm_configs") if isinstance(args, dict) else None
    return [c for c in configs if isinstance(c, str)] if isinstance(configs, list) else []


def entrypoint_refs(
    spec: dict[str, Any], where: str, annotations: dict[str, str]
) -> list[ModelRef]:
    raw = spec.get("entrypoint")
    if raw is None:
        return []
    script = expect_str(raw, f"{where}/entrypoint")
    scan = ContainerScan()
    scan_argv(["sh", "-c", script], shell_env(), scan)
    runtime = next(iter(sorted(scan.runtimes)), "")
    return scan_refs(scan, "entrypoint", runtime, annotations)


def ray_refs(
    obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
) -> list[ModelRef]:
    refs = templates_refs(ray_templates(obj, where), annotations, catalog)
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    if obj.get("kind") == "RayService":
        refs += serve_config_refs(spec, f"{where}/spec", annotations)
    if obj.get("kind") == "RayJob":
        refs += entrypoint_refs(spec, f"{where}/spec", annotations)
    return refs
