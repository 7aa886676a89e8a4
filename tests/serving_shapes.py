"""Objects shaped as each serving stack's own documentation deploys them (issue 10).

Each shape is (id, object, expected model URIs). The objects follow the examples in the vLLM,
TGI, Triton, Ollama, KServe, Seldon, KubeRay, LeaderWorkerSet, Argo Rollouts and Knative
docs: the same fields, the same command-line forms (``sh -c "vllm serve ..."``, ``python -m``
entry points, ``$(VAR)`` from env, lifecycle hooks), with names shortened.
"""

from __future__ import annotations

import copy
from typing import Any

NS = "ml-prod"


def meta(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": NS, "labels": {"app": name}}
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def template(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "m"}}, "spec": {"containers": list(containers), **spec}}


def workload(kind: str, api: str, name: str, tmpl: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "m"}}, "template": tmpl}
    if kind == "CronJob":
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": tmpl}}}
    if kind == "Job":
        spec = {"template": {**tmpl, "spec": {**tmpl["spec"], "restartPolicy": "Never"}}}
    return {"apiVersion": api, "kind": kind, "metadata": meta(name), "spec": spec}


HF_TOKEN = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token-secret", "key": "token"}}}  # fmt: skip

# vLLM docs, "Using Kubernetes": the shell form with the model as `vllm serve` positional.
VLLM_SHELL = {
    "name": "vllm",
    "image": "vllm/vllm-openai:latest",
    "command": ["/bin/sh", "-c"],
    "args": ["vllm serve meta-llama/Llama-3.2-1B-Instruct"],
    "env": [HF_TOKEN],
    "ports": [{"containerPort": 8000}],
}
VLLM_GPU = {
    "name": "mistral-7b",
    "image": "vllm/vllm-openai:latest",
    "command": ["/bin/sh", "-c"],
    "args": [
        "vllm serve mistralai/Mistral-7B-Instruct-v0.3 --trust-remote-code "
        "--enable-chunked-prefill --max_num_batched_tokens 1024"
    ],
    "env": [HF_TOKEN],
}
VLLM_MODULE = {
    "name": "vllm",
    "image": "vllm/vllm-openai:v0.6.3",
    "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
    "args": ["--model", "$(MODEL_ID)", "--port", "8000"],
    "env": [{"name": "MODEL_ID", "value": "Qwen/Qwen2.5-7B-Instruct"}],
}
VLLM_OPTIONS_FIRST = {
    "name": "vllm",
    "image": "registry.internal/llm/vllm-openai:0.7",
    "command": ["vllm", "serve", "--port", "8000", "--trust-remote-code", "org/chat-model"],
}
VLLM_LORA = {
    "name": "vllm",
    "image": "vllm/vllm-openai:latest",
    "args": [
        "--model", "meta-llama/Llama-2-7b-hf", "--enable-lora",
        "--lora-modules", "sql-lora=yard1/llama-2-7b-sql-lora-test",
        "--tokenizer", "hf-internal-testing/llama-tokenizer",
    ],
}  # fmt: skip
TGI = {
    "name": "tgi",
    "image": "ghcr.io/huggingface/text-generation-inference:2.4.0",
    "args": ["--model-id", "bigscience/bloom-560m", "--num-shard", "1"],
}
TGI_ENV = {
    "name": "tgi",
    "image": "ghcr.io/huggingface/text-generation-inference:2.4.0",
    "env": [{"name": "MODEL_ID", "value": "HuggingFaceH4/zephyr-7b-beta"}, HF_TOKEN],
}
TRITON = {
    "name": "triton",
    "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
    "command": ["tritonserver"],
    "args": ["--model-repository=s3://triton-models/repo-a", "--model_repository=gs://triton/b"],
}
OLLAMA_PULL = {
    "name": "ollama",
    "image": "ollama/ollama:0.3.12",
    "lifecycle": {"postStart": {"exec": {"command": ["/bin/sh", "-c", "ollama pull llama3.2:1b"]}}},
}
OLLAMA_BARE = {
    "name": "ollama",
    "image": "ollama/ollama:0.3.12",
    "ports": [{"containerPort": 11434}],
}

LWS_LEADER = {
    "name": "vllm-leader",
    "image": "vllm/vllm-openai:latest",
    "env": [HF_TOKEN],
    "command": [
        "sh", "-c",
        "bash /vllm-workspace/examples/online_serving/multi-node-serving.sh leader "
        "--ray_cluster_size=$(LWS_GROUP_SIZE); python3 -m vllm.entrypoints.openai.api_server "
        "--port 8080 --model meta-llama/Meta-Llama-3.1-405B-Instruct --tensor-parallel-size 8 "
        "--pipeline_parallel_size 2",
    ],
}  # fmt: skip
LWS_WORKER = {
    "name": "vllm-worker",
    "image": "vllm/vllm-openai:latest",
    "command": [
        "sh", "-c",
        "bash /vllm-workspace/examples/online_serving/multi-node-serving.sh worker "
        "--ray_address=$(LWS_LEADER_ADDRESS)",
    ],
    "env": [HF_TOKEN],
}  # fmt: skip

RAY_LLM_SERVE = """\
applications:
- name: llms
  import_path: ray.serve.llm:build_openai_app
  route_prefix: "/"
  args:
    llm_configs:
      - model_loading_config:
          model_id: qwen-0.5b
          model_source: Qwen/Qwen2.5-0.5B-Instruct
        engine_kwargs:
          tensor_parallel_size: 1
"""
RAY_VLLM_SERVE = """\
applications:
- name: llm
  route_prefix: /
  import_path: ray-operator.config.samples.vllm.serve:model
  runtime_env:
    pip: ["vllm==0.5.4"]
    env_vars:
      MODEL_ID: "meta-llama/Meta-Llama-3-8B-Instruct"
      TENSOR_PARALLELISM: "2"
"""


def ray_cluster_spec(image: str, head_cmd: list[str] | None = None) -> dict[str, Any]:
    head: dict[str, Any] = {"name": "ray-head", "image": image}
    if head_cmd:
        head["command"] = head_cmd
    return {
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [head]}}},
        "workerGroupSpecs": [
            {
                "groupName": "gpu-group",
                "replicas": 1,
                "rayStartParams": {},
                "template": {"spec": {"containers": [{"name": "ray-worker", "image": image}]}},
            }
        ],
    }


def isvc(
    name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": meta(name, annotations), "spec": spec}  # fmt: skip


SHAPES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("vllm-deployment-shell", workload("Deployment", "apps/v1", "vllm-server", template(VLLM_SHELL)),
     {"hf://meta-llama/Llama-3.2-1B-Instruct"}),
    ("vllm-deployment-gpu", workload("Deployment", "apps/v1", "mistral-7b", template(VLLM_GPU)),
     {"hf://mistralai/Mistral-7B-Instruct-v0.3"}),
    ("vllm-module-env-var", workload("Deployment", "apps/v1", "qwen", template(VLLM_MODULE)),
     {"hf://Qwen/Qwen2.5-7B-Instruct"}),
    ("vllm-options-before-model", workload("StatefulSet", "apps/v1", "chat", template(VLLM_OPTIONS_FIRST)),
     {"hf://org/chat-model"}),
    ("vllm-lora", workload("Deployment", "apps/v1", "sql", template(VLLM_LORA)),
     {"hf://meta-llama/Llama-2-7b-hf", "hf://yard1/llama-2-7b-sql-lora-test"}),
    ("vllm-daemonset", workload("DaemonSet", "apps/v1", "edge", template(VLLM_SHELL)),
     {"hf://meta-llama/Llama-3.2-1B-Instruct"}),
    ("vllm-replicaset", workload("ReplicaSet", "apps/v1", "rs", template(VLLM_SHELL)),
     {"hf://meta-llama/Llama-3.2-1B-Instruct"}),
    ("vllm-job", workload("Job", "batch/v1", "batch", template(VLLM_MODULE)),
     {"hf://Qwen/Qwen2.5-7B-Instruct"}),
    ("vllm-cronjob", workload("CronJob", "batch/v1", "nightly", template(VLLM_MODULE)),
     {"hf://Qwen/Qwen2.5-7B-Instruct"}),
    ("vllm-pod", {"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"), "spec": {"containers": [VLLM_SHELL]}},
     {"hf://meta-llama/Llama-3.2-1B-Instruct"}),
    ("vllm-init-container", workload("Deployment", "apps/v1", "init", template(
        {"name": "app", "image": "busybox"}, initContainers=[{**VLLM_MODULE, "name": "warm"}])),
     {"hf://Qwen/Qwen2.5-7B-Instruct"}),
    ("vllm-ephemeral-container", {"apiVersion": "v1", "kind": "Pod", "metadata": meta("dbg"),
        "spec": {"containers": [{"name": "app", "image": "busybox"}],
                 "ephemeralContainers": [{**VLLM_SHELL, "name": "debugger"}]}},
     {"hf://meta-llama/Llama-3.2-1B-Instruct"}),
    ("tgi-args", workload("Deployment", "apps/v1", "tgi", template(TGI)), {"hf://bigscience/bloom-560m"}),
    ("tgi-env", workload("Deployment", "apps/v1", "tgi", template(TGI_ENV)), {"hf://HuggingFaceH4/zephyr-7b-beta"}),
    ("triton-repositories", workload("Deployment", "apps/v1", "triton", template(TRITON)),
     {"s3://triton-models/repo-a", "gs://triton/b"}),
    ("ollama-post-start-pull", workload("Deployment", "apps/v1", "ollama", template(OLLAMA_PULL)),
     {"ollama://llama3.2:1b"}),
    ("argo-rollout", {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": meta("ro"),
        "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
                 "selector": {"matchLabels": {"app": "m"}}, "template": template(VLLM_SHELL)}},
     {"hf://meta-llama/Llama-3.2-1B-Instruct"}),
    ("knative-service", {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": meta("kn"),
        "spec": {"template": {"spec": {"containers": [TGI]}}}},
     {"hf://bigscience/bloom-560m"}),
    ("leaderworkerset-vllm", {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
        "metadata": meta("vllm"),
        "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 2, "restartPolicy": "RecreateGroupOnPodRestart",
                 "leaderTemplate": {"metadata": {"labels": {"role": "leader"}}, "spec": {"containers": [LWS_LEADER]}},
                 "workerTemplate": {"spec": {"containers": [LWS_WORKER]}}}}},
     {"hf://meta-llama/Meta-Llama-3.1-405B-Instruct"}),
    ("kserve-sklearn", isvc("sklearn-iris", {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
        "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}}),
     {"gs://kfserving-examples/models/sklearn/1.0/model"}),
    ("kserve-huggingface-model-id", isvc("huggingface-llama3", {"predictor": {"model": {
        "modelFormat": {"name": "huggingface"},
        "args": ["--model_name=llama3", "--model_id=meta-llama/meta-llama-3-8b-instruct"]}}}),
     {"hf://meta-llama/meta-llama-3-8b-instruct"}),
    ("kserve-huggingface-storage-uri", isvc("huggingface-llama3", {"predictor": {"model": {
        "modelFormat": {"name": "huggingface"}, "args": ["--model_name=llama3", "--model_dir=/mnt/models"],
        "storageUri": "hf://meta-llama/meta-llama-3-8b-instruct"}}}),
     {"hf://meta-llama/meta-llama-3-8b-instruct"}),
    ("kserve-custom-container", isvc("custom", {"predictor": {"containers": [{
        "name": "kserve-container", "image": "registry.internal/custom-model:1.0",
        "env": [{"name": "STORAGE_URI", "value": "s3://models/custom/v3"}]}]}}),
     {"s3://models/custom/v3"}),
    ("kserve-modelmesh", isvc("example-sklearn-isvc", {"predictor": {"model": {
        "modelFormat": {"name": "sklearn"}, "storage": {"key": "localMinIO", "path": "sklearn/mnist-svm.joblib"}}}},
        {"serving.kserve.io/deploymentMode": "ModelMesh"}),
     {"storage://localMinIO/sklearn/mnist-svm.joblib"}),
    ("kserve-explainer-art", isvc("artserver", {
        "predictor": {"sklearn": {"storageUri": "gs://kfserving-examples/models/sklearn/mnist/art"}},
        "explainer": {"art": {"type": "SquareAttack", "storageUri": "s3://explainers/art/1"}}}),
     {"gs://kfserving-examples/models/sklearn/mnist/art", "s3://explainers/art/1"}),
    ("kserve-transformer", isvc("torch-transformer", {
        "predictor": {"model": {"modelFormat": {"name": "pytorch"}, "storageUri": "gs://kfserving-examples/models/torchserve/image_classifier/v1"}},
        "transformer": {"containers": [{"name": "kserve-container", "image": "kserve/image-transformer:latest",
                                         "args": ["--model_name", "mnist"]}]}}),
     {"gs://kfserving-examples/models/torchserve/image_classifier/v1"}),
    ("kserve-trained-model", {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "TrainedModel",
        "metadata": meta("model1"), "spec": {"inferenceService": "sklearn-iris-example",
        "model": {"storageUri": "gs://kfserving-examples/models/sklearn/1.0/model", "framework": "sklearn", "memory": "256Mi"}}},
     {"gs://kfserving-examples/models/sklearn/1.0/model"}),
    ("kserve-llminferenceservice", {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "LLMInferenceService",
        "metadata": meta("facebook-opt-125m-single"),
        "spec": {"model": {"uri": "hf://facebook/opt-125m", "name": "facebook/opt-125m"}, "replicas": 1,
                 "router": {"scheduler": {}, "route": {}, "gateway": {}},
                 "template": {"containers": [{"name": "main", "image": "ghcr.io/llm-d/llm-d:v0.2.0"}]}}},
     {"hf://facebook/opt-125m"}),
    ("seldon-v2-model", {"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model", "metadata": meta("iris"),
        "spec": {"storageUri": "gs://seldon-models/scv2/samples/mlserver_1.3.5/iris-sklearn", "requirements": ["sklearn"], "memory": "100Ki"}},
     {"gs://seldon-models/scv2/samples/mlserver_1.3.5/iris-sklearn"}),
    ("seldon-v1-deployment", {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
        "metadata": meta("iris-model"),
        "spec": {"name": "iris", "predictors": [{"name": "default", "replicas": 1, "graph": {
            "name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "gs://seldon-models/v1.19.0-dev/sklearn/iris"}}]}},
     {"gs://seldon-models/v1.19.0-dev/sklearn/iris"}),
    ("ray-service-llm", {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": meta("ray-serve-llm"),
        "spec": {"serveConfigV2": RAY_LLM_SERVE, "rayClusterConfig": ray_cluster_spec("rayproject/ray-llm:2.46.0-py311-cu124")}},
     {"hf://Qwen/Qwen2.5-0.5B-Instruct"}),
    ("ray-service-vllm-env", {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": meta("llama-3-8b"),
        "spec": {"serveConfigV2": RAY_VLLM_SERVE, "rayClusterConfig": ray_cluster_spec("rayproject/ray-ml:2.33.0.914af0-py311")}},
     {"hf://meta-llama/Meta-Llama-3-8B-Instruct"}),
    ("ray-job-entrypoint", {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": meta("batch-llm"),
        "spec": {"entrypoint": "python batch_inference.py --model Qwen/Qwen2.5-7B-Instruct --batch-size 64",
                 "rayClusterSpec": ray_cluster_spec("rayproject/ray:2.46.0")}},
     {"hf://Qwen/Qwen2.5-7B-Instruct"}),
    ("ray-cluster-vllm", {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta("vllm-cluster"),
        "spec": ray_cluster_spec("vllm/vllm-openai:latest", ["sh", "-c", "ray start --head && vllm serve facebook/opt-125m"])},
     {"hf://facebook/opt-125m"}),
]  # fmt: skip

# Shapes that load a model mlgate cannot name: each must be an unresolved reference.
UNRESOLVED: list[tuple[str, dict[str, Any]]] = [
    ("ollama-without-pull", workload("Deployment", "apps/v1", "ollama", template(OLLAMA_BARE))),
    ("vllm-model-from-secret", workload("Deployment", "apps/v1", "secret-model", template({
        "name": "vllm", "image": "vllm/vllm-openai:latest", "args": ["--model", "$(MODEL)"],
        "env": [{"name": "MODEL", "valueFrom": {"secretKeyRef": {"name": "m", "key": "id"}}}]}))),
    ("vllm-model-from-envfrom", workload("Deployment", "apps/v1", "cm-model", template({
        "name": "vllm", "image": "vllm/vllm-openai:latest", "command": ["sh", "-c", "vllm serve $MODEL_NAME"],
        "envFrom": [{"configMapRef": {"name": "model-config"}}]}))),
    ("tgi-model-id-from-configmap", workload("Deployment", "apps/v1", "tgi", template({
        "name": "tgi", "image": "ghcr.io/huggingface/text-generation-inference:2.4.0",
        "env": [{"name": "MODEL_ID", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "model"}}}]}))),
    ("triton-without-repository", workload("Deployment", "apps/v1", "triton", template({
        "name": "triton", "image": "nvcr.io/nvidia/tritonserver:24.08-py3", "command": ["/opt/start.sh"]}))),
    ("kserve-huggingface-without-model", isvc("hf", {"predictor": {"model": {
        "modelFormat": {"name": "huggingface"}, "args": ["--model_name=llama3"]}}})),
    ("ray-llm-config-files", {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": meta("files"),
        "spec": {"serveConfigV2": "applications:\n- name: llms\n  import_path: ray.serve.llm:build_openai_app\n"
                 "  args:\n    llm_configs:\n      - models/qwen.yaml\n",
                 "rayClusterConfig": ray_cluster_spec("rayproject/ray-llm:2.46.0-py311-cu124")}}),
    ("seldon-v1-prepackaged-without-uri", {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
        "metadata": meta("nouri"), "spec": {"predictors": [{"name": "default", "graph": {
            "name": "classifier", "implementation": "SKLEARN_SERVER"}}]}}),
]  # fmt: skip


def with_annotations(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].setdefault("annotations", {}).update(annotations)
    return out
