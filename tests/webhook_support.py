"""Helpers for the webhook tests: Kubernetes objects, AdmissionReviews, a real server process."""

from __future__ import annotations

import base64
import copy
import json
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CREDIT_SCORER = EXAMPLES / "models" / "credit-scorer"
# The credit scorer as the binding tests deploy it: its attested URI, a digest-pinned verifier
# image, the verified volume mounted read-only, and the namespace the verifier judges trust for.
ATTESTED_URI = "s3://ml-models-prod/credit-scorer/0.9.2"
VERIFIER = "ghcr.io/mlgate/mlgate-verifier:0.1.0@sha256:" + "5e" * 32
MODELS_RO = {"name": "models", "mountPath": "/models", "readOnly": True}
POD_NAMESPACE = {
    "name": "POD_NAMESPACE",
    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
}


def deployment_of(
    meta: dict[str, Any], pod_spec: dict[str, Any], annotations: dict[str, str]
) -> dict[str, Any]:
    """A one-replica ``credit`` Deployment around a pod spec, annotated on its pod template."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "credit"}},
            "template": {
                "metadata": {"labels": {"app": "credit"}, "annotations": dict(annotations)},
                "spec": pod_spec,
            },
        },
    }


def credit_scorer_evidence(digest: str) -> dict[str, str]:
    """The approved credit scorer's annotations, as a GitOps pipeline writes them."""
    attestation = EXAMPLES / "attestations" / "credit-scorer.intoto.json"
    return {
        "mlgate.io/model-digest": digest,
        "mlgate.io/signature": base64.b64encode(
            (CREDIT_SCORER / "model.sig").read_bytes()
        ).decode(),
        "mlgate.io/attestation": base64.b64encode(attestation.read_bytes()).decode(),
    }


MLGATE = [sys.executable, "-m", "mlgate.cli.main"]

# Namespaces as the webhook sees them (--namespace-labels) and as `mlgate check` is told
# (--namespace-label): the environment comes from mlgate.io/environment.
NAMESPACES = {
    "ml-prod": {"mlgate.io/environment": "production", "mlgate.io/enforce": "true"},
    "ml-staging": {"mlgate.io/environment": "staging", "mlgate.io/enforce": "true"},
    "ml-dev": {"mlgate.io/environment": "development", "mlgate.io/enforce": "true"},
}
DEPLOYER = {
    "username": "alice@example.com",
    "groups": ["ml-platform-deployers", "system:authenticated"],
}


def signed_annotations() -> dict[str, str]:
    """The demo fraud-detector model: digest, signature and governance attestation."""
    from mlgate.supplychain.modeldir import model_digest

    model = EXAMPLES / "models" / "fraud-detector"
    return {
        "mlgate.io/model-digest": model_digest(model, []),
        "mlgate.io/signature": base64.b64encode((model / "model.sig").read_bytes()).decode(),
        "mlgate.io/attestation": base64.b64encode(
            (EXAMPLES / "attestations" / "fraud-detector.intoto.json").read_bytes()
        ).decode(),
    }


def _meta(name: str, namespace: str, annotations: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"app": name}}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _pod_spec(container: dict[str, Any]) -> dict[str, Any]:
    return {"containers": [container]}


def objects(namespace: str, annotations: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """One model-bearing object per supported kind, all serving a model."""
    uri = "s3://models/fraud-detector/v3"
    vllm = {
        "name": "vllm",
        "image": "vllm/vllm-openai:v0.6.3",
        "args": ["--model", uri, "--port", "8000"],
    }
    triton = {
        "name": "triton",
        "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
        "command": ["tritonserver"],
        "args": [f"--model-repository={uri}"],
    }
    template = {"metadata": {"labels": {"app": "m"}, "annotations": dict(annotations or {})}}
    return {
        "InferenceService": {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": _meta("fraud-detector", namespace, annotations),
            "spec": {
                "predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri}}
            },
        },
        "Model": {
            "apiVersion": "mlops.seldon.io/v1alpha1",
            "kind": "Model",
            "metadata": _meta("fraud-detector", namespace, annotations),
            "spec": {"storageUri": uri, "requirements": ["sklearn"]},
        },
        "Deployment": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("llm", namespace, annotations),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "m"}},
                "template": {**copy.deepcopy(template), "spec": _pod_spec(vllm)},
            },
        },
        "StatefulSet": {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta("triton", namespace, annotations),
            "spec": {
                "serviceName": "triton",
                "selector": {"matchLabels": {"app": "m"}},
                "template": {**copy.deepcopy(template), "spec": _pod_spec(triton)},
            },
        },
        "Job": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta("batch-score", namespace, annotations),
            "spec": {
                "template": {
                    **copy.deepcopy(template),
                    "spec": {**_pod_spec(vllm), "restartPolicy": "Never"},
                }
            },
        },
        "Pod": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _meta("llm-pod", namespace, annotations),
            "spec": _pod_spec(vllm),
        },
    }


def plain_pod(namespace: str = "ml-prod") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    dry_run: bool = False,
    uid: str | None = None,
    user: dict[str, Any] | None = None,
    kind: tuple[str, str, str] | None = None,
    namespace: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """An AdmissionReview as the API server sends it."""
    if kind is None:
        assert obj is not None
        group, _, version = obj["apiVersion"].rpartition("/")
        kind = (group, version, obj["kind"])
    meta = (obj or {}).get("metadata", {})
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": kind[0], "version": kind[1], "kind": kind[2]},
        "resource": {"group": kind[0], "version": kind[1], "resource": kind[2].lower() + "s"},
        "requestKind": {"group": kind[0], "version": kind[1], "kind": kind[2]},
        "operation": operation,
        "namespace": namespace if namespace is not None else meta.get("namespace", ""),
        "name": name if name is not None else meta.get("name", ""),
        "userInfo": user or DEPLOYER,
        "object": obj if operation != "DELETE" else None,
        "oldObject": obj if operation in ("DELETE", "UPDATE") else None,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def issue_certs(out: Path, *extra: str) -> Path:
    subprocess.run([*MLGATE, "certs", "--out", str(out), "--client", "kube-apiserver", *extra],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    return out


@dataclass
class Server:
    """A real `mlgate serve` process on 127.0.0.1 over TLS."""

    workdir: Path
    certs: Path
    args: list[str] = field(default_factory=list)
    client_ca: bool = False
    static_namespaces: bool = True  # False: no --namespace-labels (e.g. with --kube-api)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def audit_db(self) -> Path:
        return self.workdir / "audit.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def command(self) -> list[str]:
        cmd = [
            *MLGATE, "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--cert", str(self.certs / "tls.crt"), "--key", str(self.certs / "tls.key"),
            "--audit-db", str(self.audit_db),
            "--reload-interval", "0.3", "--tls-reload-interval", "0.3",
        ]  # fmt: skip
        if self.static_namespaces:
            cmd += ["--namespace-labels", str(self.workdir / "namespaces.yaml")]
        if self.client_ca:
            cmd += ["--client-ca", str(self.certs / "ca.crt")]
        return cmd + self.args

    def start(self, *, ready: bool = True, timeout: float = 90) -> Server:
        import yaml

        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "namespaces.yaml").write_text(yaml.safe_dump(NAMESPACES))
        self.port = free_port()
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlgate serve exited {self.proc.returncode}:\n{self.log()}")
            try:
                with self.client() as c:
                    status = c.get("/readyz").status_code
                if status == 200 or (not ready and status == 503):
                    return self
            except (httpx.TransportError, ssl.SSLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mlgate serve did not become ready:\n{self.log()}")

    def client(self, **kw: Any) -> httpx.Client:
        """Verifies the server certificate against the generated CA."""
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        if self.client_ca and kw.pop("client_cert", True):
            ctx.load_cert_chain(str(self.certs / "client.crt"), str(self.certs / "client.key"))
        kw.pop("client_cert", None)
        return httpx.Client(base_url=self.url, verify=ctx, timeout=kw.pop("timeout", 15), **kw)

    def validate(self, doc: Any, **kw: Any) -> httpx.Response:
        with self.client() as c:
            if isinstance(doc, bytes):
                return c.post(
                    "/validate", content=doc, headers={"Content-Type": "application/json"}, **kw
                )
            return c.post("/validate", json=doc, **kw)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def metrics(self) -> str:
        with self.client() as c:
            return c.get("/metrics").text

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of a metric's samples whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if labels and not all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            continue
        total += float(value)
    return total


def wait_for(predicate: Callable[[], Any], timeout: float = 15, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
