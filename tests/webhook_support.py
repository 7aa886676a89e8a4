"""Helpers for the webhook tests: Kubernetes objects, AdmissionReviews, a real server process."""

from __future__ import annotations

import base64
import copy
import datetime
import json
import shutil
import socket
import sqlite3
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
VERIFIER_DIGEST = "sha256:" + "5e" * 32
VERIFIER = f"ghcr.io/mlgate/mlgate-verifier:0.1.0@{VERIFIER_DIGEST}"
MODELS_RO = {"name": "models", "mountPath": "/models", "readOnly": True}
# The release pipeline's identity, which may deploy to production.
RELEASE_BOT = {
    "username": "release-bot",
    "groups": ["mlops-release-managers", "system:authenticated"],
}
POD_NAMESPACE = {
    "name": "POD_NAMESPACE",
    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
}


def verifier_container(expect: str, uri: str = ATTESTED_URI, **extra: Any) -> dict[str, Any]:
    """The digest-pinned verifier as an init container: checks the model directory at /models
    (mounted read-only) against ``expect`` for ``uri``; ``extra`` replaces fields."""
    container = {
        "name": "verify-model",
        "image": VERIFIER,
        "args": ["--model-dir", "/models", "--storage-uri", uri, "--expect-digest", expect],
        "volumeMounts": [dict(MODELS_RO)],
        # trust.yaml is scoped by namespace: the check runs in the pod's own
        "env": [POD_NAMESPACE],
    }
    return {**container, **extra}


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


def kserve_verified_policies(target: Path) -> Path:
    """A copy of the shipped policies at ``target`` with the verifying ClusterStorageContainer
    declared installed for s3:// (what an operator sets after applying
    webhook/verifier/clusterstoragecontainer.yaml)."""
    shutil.copytree(REPO / "policies", target)
    params = target / "params.yaml"
    text = params.read_text()
    assert "kserve_verified_uri_prefixes: []" in text
    params.write_text(
        text.replace("kserve_verified_uri_prefixes: []", 'kserve_verified_uri_prefixes: ["s3://"]')
    )
    return target


def credit_scorer_attestation(
    digest: str, uris: list[str], created_at: datetime.datetime | None = None
) -> str:
    """A fresh governance attestation (base64 DSSE) of the credit scorer for these URIs, signed
    by the trusted promotion pipeline, from the example inputs."""
    from mlgate.policyset.yamlfile import load_data_file
    from mlgate.supplychain.attestation import create_attestation
    from mlgate.supplychain.dsse import KeySigner

    inputs = EXAMPLES / "attestations" / "credit-scorer"
    bundle = create_attestation(
        KeySigner.from_files(EXAMPLES / "keys" / "promotion-pipeline.key.pem"),
        model_name="credit-scorer",
        model_digest=digest,
        card=load_data_file(inputs / "card.yaml")[0],
        evaluation=load_data_file(inputs / "evidence.json")[0],
        approvals=load_data_file(inputs / "approvals.yaml")[0],
        gates=load_data_file(inputs / "gates.yaml")[0],
        model_uris=uris,
        created_at=created_at or datetime.datetime.now(datetime.UTC),
    )
    return base64.b64encode(bundle).decode()


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

    def decide(self, obj: dict[str, Any], **review_kw: Any) -> dict[str, Any]:
        """The AdmissionReview response to ``review(obj, **review_kw)``, which must be a 200."""
        r = self.validate(review(obj, **review_kw))
        assert r.status_code == 200, r.text
        return dict(r.json()["response"])

    def decision_record(self, resp: dict[str, Any]) -> str:
        """The decision-log record of a response, as JSON text (every violation's whole
        message, which the response may shorten)."""
        decision_id = resp["auditAnnotations"]["decision-id"]
        with sqlite3.connect(self.audit_db) as conn:
            bodies = [row[0] for row in conn.execute("SELECT body FROM records")]
        return next(b for b in bodies if decision_id in b)

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


def denied_controls(resp: dict[str, Any]) -> list[str]:
    """The control ids a response denies for (its ``denied-controls`` audit annotation)."""
    raw = resp.get("auditAnnotations", {}).get("denied-controls", "")
    return sorted(c for c in raw.split(",") if c)


def warned_controls(resp: dict[str, Any]) -> list[str]:
    """The control ids a response warns about (its ``warned-controls`` audit annotation)."""
    raw = resp.get("auditAnnotations", {}).get("warned-controls", "")
    return sorted(c for c in raw.split(",") if c)


def wait_for(predicate: Callable[[], Any], timeout: float = 15, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
