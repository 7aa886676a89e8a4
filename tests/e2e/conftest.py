"""One real control plane per run, with mlgate installed the way an operator installs it.

Order matters and mirrors a real cluster's life:
1. etcd, kube-apiserver and kube-controller-manager start (tests/e2e/cluster.py);
2. the pinned upstream CRDs are installed;
3. objects that existed before mlgate are created (the cluster audit scans them);
4. the shipped webhook/ manifests are applied (URL clientConfig), the webhook gets a token of
   the shipped ServiceAccount and starts on the host over TLS.

Run by `make e2e`, which builds the binaries and sets MLGATE_K8S_BIN, MLGATE_CRDS,
MLGATE_HELM and MLGATE_E2E_WORK. Nothing here skips: a missing binary or a component that
does not start fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from e2e import objects
from e2e.cluster import ControlPlane, Endpoints, kube_env
from e2e.processes import Processes, StartError
from e2e.webhook import HostWebhook, load_documents, url_variant

REPO = Path(__file__).resolve().parents[2]
FIELD_MANAGER = "mlgate-e2e"

# Namespaces as an operator labels them (webhook/README.md, "Opt namespaces in").
NAMESPACES = {
    "ml-prod": {"mlgate.io/enforce": "true", "mlgate.io/environment": "production"},
    "ml-staging": {"mlgate.io/enforce": "true", "mlgate.io/environment": "staging"},
    "ml-optout": {"mlgate.io/environment": "production"},  # not opted in
    "legacy-prod": {"mlgate.io/enforce": "true", "mlgate.io/environment": "production"},
    "legacy-hold": {"mlgate.io/enforce": "true", "mlgate.io/environment": "production"},
}
LEGACY_NAMESPACE = "legacy-prod"
HELD = "legacy-hold"  # an unsigned object with a finalizer, from before the webhook


def _required_env(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        raise StartError(f"{name} is not set: run the end-to-end tests with `make e2e`")
    return Path(value)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Kubectl:
    binary: str
    work: Path
    endpoints: Endpoints
    calls: list[str] = field(default_factory=list)

    def __call__(
        self, *args: str, stdin: str | None = None, admin: bool = False, timeout: float = 180
    ) -> Result:
        """kubectl as the release manager (or the operator), output as the user sees it."""
        config = self.endpoints.admin_kubeconfig if admin else self.endpoints.deployer_kubeconfig
        proc = subprocess.run(
            [self.binary, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=kube_env(self.work, config),
            timeout=timeout,
        )
        self.calls.append(" ".join(["kubectl", *args]))
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def transcript(self, name: str, args: tuple[str, ...], stdin_from: str, result: Result) -> None:
        """What the user typed and saw, for docs/operator-guide.md (.e2e/run/transcripts/)."""
        out = self.work / "transcripts"
        out.mkdir(exist_ok=True)
        shown = " ".join(["kubectl", *args]) + (f" < {stdin_from}" if stdin_from else "")
        # A terminal shows the API server's warnings before kubectl's own "created" line.
        (out / f"{name}.txt").write_text(f"$ {shown}\n{result.stderr}{result.stdout}")

    def ok(
        self, *args: str, stdin: str | None = None, admin: bool = True, timeout: float = 180
    ) -> str:
        result = self(*args, stdin=stdin, admin=admin, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def apply(self, *objs: dict[str, Any], extra: tuple[str, ...] = ()) -> Result:
        return self("apply", "-f", "-", *extra, stdin=objects.to_yaml(*objs))


@dataclass
class Cluster:
    work: Path
    endpoints: Endpoints
    processes: Processes
    control_plane: ControlPlane
    kubectl: Kubectl
    webhook: HostWebhook
    crd_dir: Path
    helm: Path
    shipped: list[dict[str, Any]]
    legacy: list[dict[str, Any]]

    def api_client(self, *, admin: bool = False):  # type: ignore[no-untyped-def]
        from kubernetes import config

        path = self.endpoints.admin_kubeconfig if admin else self.endpoints.deployer_kubeconfig
        return config.new_client_from_config(config_file=str(path))


CRD_ATTEMPTS = 5
# A timed-out write, or one that raced with the timed-out write finishing.
CRD_RETRY_ON = ("(Timeout)", "(Conflict)", "(AlreadyExists)")


def _install_crds(kubectl: Kubectl, crd_dir: Path) -> None:
    files = sorted(crd_dir.glob("*.yaml"))
    if not files:
        raise StartError(f"no CRDs in {crd_dir}: `make crds` writes them")
    # Server-side: KServe's InferenceService CRD (~1 MB) is far over the 256 KiB limit of the
    # last-applied annotation that client-side apply writes. The API server gives every write
    # at most 34 s (requestTimeoutUpperBound in k8s.io/apiserver's handlers, not raised by
    # --request-timeout); at load 30 on 2 cores one such CRD can take longer and is answered
    # "Error from server (Timeout)", though it is often stored just after. Server-side apply
    # is idempotent, so each file is applied on its own, and again after a timeout.
    for f in files:
        for attempt in range(1, CRD_ATTEMPTS + 1):
            result = kubectl(
                "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", str(f),
                admin=True, timeout=300,
            )  # fmt: skip
            if result.returncode == 0:
                break
            transient = any(r in result.stderr for r in CRD_RETRY_ON)
            if not transient or attempt == CRD_ATTEMPTS:
                raise StartError(f"kubectl apply -f {f} failed ({attempt}x):\n{result.stderr}")
            time.sleep(2)  # the timed-out write may still be finishing
    args = [a for f in files for a in ("-f", str(f))]
    kubectl.ok("wait", "--for=condition=Established", "--timeout=300s", *args, timeout=400)


# What the cluster audit must decide for the legacy-prod objects (the others carry no model
# or are controller-made): True = allowed.
LEGACY_JUDGED = {
    ("InferenceService", "credit-scorer"): True,
    ("InferenceService", "credit-scorer-unsigned"): False,
    ("Deployment", "chatbot"): False,
    ("ServingRuntime", "triton-tagged"): False,
}


def legacy_objects() -> list[dict[str, Any]]:
    """Objects already running when mlgate is installed: the cluster audit must find them."""
    ns = LEGACY_NAMESPACE
    held = objects.unsigned_isvc("held", HELD)
    held["metadata"]["finalizers"] = ["example.com/cleanup"]
    return [
        held,
        objects.signed_isvc("credit-scorer", ns),
        objects.unsigned_isvc("credit-scorer-unsigned", ns),
        objects.vllm_deployment("chatbot", ns, "s3://llm-weights/support-chatbot/latest"),
        objects.plain_deployment("web", ns),
        objects.plain_service("web", ns),
        objects.triton_serving_runtime("triton-tagged", ns),
    ]


def _namespaces(kubectl: Kubectl) -> None:
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
        for n, labels in NAMESPACES.items()
    ]
    kubectl.ok("apply", "-f", "-", stdin=objects.to_yaml(*docs))
    # The controller manager creates each namespace's default ServiceAccount; Pods need it.
    for n in NAMESPACES:
        deadline = time.monotonic() + 60
        while kubectl("get", "serviceaccount", "default", "-n", n, admin=True).returncode:
            if time.monotonic() > deadline:
                raise StartError(
                    f"no default ServiceAccount in {n}: is kube-controller-manager up?"
                )
            time.sleep(0.3)


def _wait_for_webhook(kubectl: Kubectl) -> None:
    """The API server picks the configuration up through an informer: probe until it calls."""
    probe = objects.unsigned_isvc("probe", "ml-prod")
    deadline = time.monotonic() + 60
    while True:
        result = kubectl.apply(probe, extra=("--dry-run=server",))
        if "denied the request" in result.stderr:
            return
        if time.monotonic() > deadline:
            raise StartError(f"the API server never called the webhook:\n{result.stderr}")
        time.sleep(0.3)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    bin_dir = _required_env("MLGATE_K8S_BIN")
    crd_dir = _required_env("MLGATE_CRDS")
    helm = _required_env("MLGATE_HELM")
    work = _required_env("MLGATE_E2E_WORK")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    processes = Processes(work)
    started = time.monotonic()
    try:
        plane = ControlPlane(bin_dir, work, processes)
        endpoints = plane.start()
        kubectl = Kubectl(plane.kubectl, work, endpoints)
        _install_crds(kubectl, crd_dir)
        _namespaces(kubectl)
        legacy = legacy_objects()
        kubectl.ok("apply", "-f", "-", stdin=objects.to_yaml(*legacy))
        webhook = HostWebhook(processes, work, endpoints)
        shipped = load_documents(kubectl.ok("kustomize", str(REPO / "webhook")))
        installed = url_variant(shipped, webhook.url, webhook.ca_bundle)
        kubectl.ok("apply", "-f", "-", stdin=objects.to_yaml(*installed))
        token = kubectl.ok(
            "create", "token", "mlgate-webhook", "-n", "mlgate-system", "--duration=4h"
        )
        webhook.token_file.write_text(token.strip())
        webhook.start()
        _wait_for_webhook(kubectl)
        plane.timings["cluster_ready_s"] = time.monotonic() - started
        (work / "timings.txt").write_text(
            "".join(f"{k} {v:.2f}\n" for k, v in plane.timings.items())
        )
        yield Cluster(
            work, endpoints, processes, plane, kubectl, webhook, crd_dir, helm, shipped, legacy
        )
    finally:
        processes.stop_all()
