"""Every kind mlgate reads, with its API group, resource and adapter.

This table is the single list that the webhook rules (webhook/base/validatingwebhook.yaml)
and the operator guide must match; tests/test_kind_coverage.py checks that they do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlgate.subjects.base import ModelRef
from mlgate.subjects.kserve import (
    inference_service_models,
    llm_inference_service_models,
    serving_runtime_images,
    trained_model_models,
)
from mlgate.subjects.ray import ray_refs, ray_templates
from mlgate.subjects.seldon import (
    seldon_deployment_models,
    seldon_model_models,
    seldon_server_models,
)
from mlgate.subjects.servers import ServerCatalog
from mlgate.subjects.workloads import Template, builtin_templates, lws_templates, templates_refs

RefsFn = Callable[[dict[str, Any], dict[str, str], str, ServerCatalog], list[ModelRef]]
TemplatesFn = Callable[[dict[str, Any], str], list[Template]]


@dataclass(frozen=True)
class KindAdapter:
    group: str
    kind: str
    resource: str  # plural, as in webhook rules
    versions: tuple[str, ...]
    refs: RefsFn
    templates: TemplatesFn | None = None  # pod templates whose annotations count as the object's
    pods: bool = True  # runs pods (a namespace may require it to declare its models)
    scope: str = "Namespaced"


def _pods(templates: TemplatesFn) -> RefsFn:
    def refs(
        obj: dict[str, Any], annotations: dict[str, str], where: str, catalog: ServerCatalog
    ) -> list[ModelRef]:
        return templates_refs(templates(obj, where), annotations, catalog)

    return refs


def _workload(group: str, kind: str, resource: str, versions: tuple[str, ...]) -> KindAdapter:
    return KindAdapter(group, kind, resource, versions, _pods(builtin_templates), builtin_templates)


KSERVE = "serving.kserve.io"
SELDON_V2 = "mlops.seldon.io"
SELDON_V1 = "machinelearning.seldon.io"
RAY = "ray.io"

ADAPTERS: tuple[KindAdapter, ...] = (
    _workload("", "Pod", "pods", ("v1",)),
    _workload("apps", "Deployment", "deployments", ("v1",)),
    _workload("apps", "StatefulSet", "statefulsets", ("v1",)),
    _workload("apps", "DaemonSet", "daemonsets", ("v1",)),
    _workload("apps", "ReplicaSet", "replicasets", ("v1",)),
    _workload("batch", "Job", "jobs", ("v1",)),
    _workload("batch", "CronJob", "cronjobs", ("v1",)),
    _workload("argoproj.io", "Rollout", "rollouts", ("v1alpha1",)),
    _workload("serving.knative.dev", "Service", "services", ("v1",)),
    KindAdapter(
        "leaderworkerset.x-k8s.io", "LeaderWorkerSet", "leaderworkersets", ("v1",),
        _pods(lws_templates), lws_templates,
    ),
    KindAdapter(KSERVE, "InferenceService", "inferenceservices", ("v1beta1",), inference_service_models),
    KindAdapter(KSERVE, "TrainedModel", "trainedmodels", ("v1alpha1",), trained_model_models, pods=False),
    KindAdapter(
        KSERVE, "LLMInferenceService", "llminferenceservices", ("v1alpha1", "v1alpha2"),
        llm_inference_service_models,
    ),
    KindAdapter(KSERVE, "ServingRuntime", "servingruntimes", ("v1alpha1",), serving_runtime_images, pods=False),
    KindAdapter(
        KSERVE, "ClusterServingRuntime", "clusterservingruntimes", ("v1alpha1",),
        serving_runtime_images, pods=False, scope="Cluster",
    ),
    KindAdapter(SELDON_V2, "Model", "models", ("v1alpha1",), seldon_model_models, pods=False),
    KindAdapter(SELDON_V2, "Server", "servers", ("v1alpha1",), seldon_server_models),
    KindAdapter(
        SELDON_V1, "SeldonDeployment", "seldondeployments", ("v1", "v1alpha2", "v1alpha3"),
        seldon_deployment_models,
    ),
    KindAdapter(RAY, "RayCluster", "rayclusters", ("v1",), ray_refs, ray_templates),
    KindAdapter(RAY, "RayService", "rayservices", ("v1",), ray_refs, ray_templates),
    KindAdapter(RAY, "RayJob", "rayjobs", ("v1",), ray_refs, ray_templates),
)  # fmt: skip

_BY_KIND = {(a.group, a.kind): a for a in ADAPTERS}

# Kinds of the serving stacks that hold no model of their own: skipped with this reason.
NO_MODEL_KINDS = {
    (KSERVE, "InferenceGraph"): "an InferenceGraph routes to InferenceServices, which are checked themselves",
    (KSERVE, "LLMInferenceServiceConfig"): "an LLMInferenceServiceConfig is a template; the LLMInferenceService using it is checked",
    (KSERVE, "ClusterStorageContainer"): "a ClusterStorageContainer configures model download; it loads no model itself",
    (SELDON_V2, "Pipeline"): "a Seldon Pipeline chains Models, which are checked themselves",
    (SELDON_V2, "Experiment"): "a Seldon Experiment splits traffic between Models, which are checked themselves",
    (SELDON_V2, "SeldonRuntime"): "a SeldonRuntime installs Seldon's control plane; it loads no model",
    (SELDON_V2, "SeldonConfig"): "a SeldonConfig configures Seldon's components; it loads no model",
}  # fmt: skip


def adapter_for(group: str, kind: str) -> KindAdapter | None:
    return _BY_KIND.get((group, kind))
