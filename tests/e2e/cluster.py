"""A real control plane on 127.0.0.1: etcd, kube-apiserver and kube-controller-manager.

The binaries come from ``make k8s-bins`` (pinned wrapper modules, built from the Go module
proxy); ``MLGATE_K8S_BIN`` names their directory. Every port is chosen free at start (bind
to port 0), never fixed: another process on a shared machine may hold any given port.
Nothing here skips: a missing binary or a component that does not become ready raises
StartError, which fails the run.
"""

from __future__ import annotations

import os
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from e2e.processes import Processes, StartError, free_port

# Static bearer tokens (--token-auth-file): the operator (system:masters), a release
# manager who deploys (the group the shipped params allow for high-risk production models),
# and the controller manager. The webhook gets no static token: it uses a service-account
# token from the TokenRequest API, with the shipped RBAC.
ADMIN_TOKEN = "e2e-admin-token"
DEPLOYER_TOKEN = "e2e-release-manager-token"
DEPLOYER_USER = "rm-alice@example.com"
DEPLOYER_GROUPS = ("mlops-release-managers", "system:masters")
CONTROLLER_TOKEN = "e2e-kube-controller-manager-token"


@dataclass
class Endpoints:
    api_url: str
    ca_file: Path
    admin_kubeconfig: Path
    deployer_kubeconfig: Path


def _write_sa_key(pki: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (pki / "sa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (pki / "sa.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _kubeconfig(path: Path, api_url: str, ca_file: Path, user: str, token: str) -> Path:
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {{server: "{api_url}", certificate-authority: "{ca_file}"}}
users:
- name: {user}
  user: {{token: "{token}"}}
contexts:
- name: e2e
  context: {{cluster: e2e, user: {user}}}
current-context: e2e
"""
    )
    return path


def wait_https(url: str, ca_file: Path, token: str, *, timeout_s: float, proc: str,
               processes: Processes) -> float:  # fmt: skip
    """Seconds until ``url`` answers 200, or StartError naming the component and its log."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not processes.alive(proc):
            raise StartError(f"{proc} exited during start-up:\n{processes.tail(proc)}")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, context=ctx, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.1)
    raise StartError(f"{proc} not ready after {timeout_s:.0f}s:\n{processes.tail(proc)}")


class ControlPlane:
    def __init__(self, bin_dir: Path, work: Path, processes: Processes) -> None:
        self.bin_dir = bin_dir
        self.work = work
        self.processes = processes
        self.pki = work / "pki"
        self.timings: dict[str, float] = {}

    def _bin(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.is_file():
            raise StartError(f"{path} is missing: `make k8s-bins` builds it")
        return str(path)

    @property
    def kubectl(self) -> str:
        return self._bin("kubectl")

    def start(self) -> Endpoints:
        from mlgate.server.certs import issue

        self.pki.mkdir(parents=True, exist_ok=True)
        serving = issue(self.pki / "apiserver", hosts=["localhost", "127.0.0.1"])
        _write_sa_key(self.pki)
        (self.pki / "tokens.csv").write_text(
            f'{ADMIN_TOKEN},e2e-admin,e2e-admin,"system:masters"\n'
            f'{DEPLOYER_TOKEN},{DEPLOYER_USER},rm-alice,"{",".join(DEPLOYER_GROUPS)}"\n'
            # system:masters: with --use-service-account-credentials=false the controllers act
            # as this one user, which then needs every controller's permissions.
            f'{CONTROLLER_TOKEN},system:kube-controller-manager,kcm,"system:masters"\n'
        )
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        t0 = time.monotonic()
        self.processes.start(
            "etcd",
            [
                self._bin("etcd"),
                "--data-dir", str(self.work / "etcd-data"),
                "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
                "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}",
                "--unsafe-no-fsync",
                "--quota-backend-bytes", str(1 << 30),
            ],
        )  # fmt: skip
        self._wait_etcd(etcd_port)
        self.timings["etcd_ready_s"] = time.monotonic() - t0
        api_url = f"https://127.0.0.1:{api_port}"
        self.processes.start(
            "kube-apiserver",
            [
                self._bin("kube-apiserver"),
                "--etcd-servers", f"http://127.0.0.1:{etcd_port}",
                "--bind-address", "127.0.0.1",
                "--advertise-address", "127.0.0.1",
                # With a loopback advertise address the default endpoint reconciler refuses
                # to start; nothing here needs the kubernetes Service endpoints.
                "--endpoint-reconciler-type", "none",
                "--secure-port", str(api_port),
                "--tls-cert-file", str(serving.cert),
                "--tls-private-key-file", str(serving.key),
                "--client-ca-file", str(serving.ca_cert),
                "--token-auth-file", str(self.pki / "tokens.csv"),
                "--authorization-mode", "RBAC",
                "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file", str(self.pki / "sa.pub"),
                "--service-account-signing-key-file", str(self.pki / "sa.key"),
                "--service-cluster-ip-range", "10.96.0.0/24",
                "--cert-dir", str(self.work / "apiserver-certs"),
            ],
        )  # fmt: skip
        t1 = time.monotonic()
        wait_https(
            f"{api_url}/readyz", serving.ca_cert, ADMIN_TOKEN,
            timeout_s=120, proc="kube-apiserver", processes=self.processes,
        )  # fmt: skip
        self.timings["apiserver_ready_s"] = time.monotonic() - t1
        admin = _kubeconfig(
            self.work / "admin.kubeconfig", api_url, serving.ca_cert, "e2e-admin", ADMIN_TOKEN
        )
        deployer = _kubeconfig(
            self.work / "deployer.kubeconfig", api_url, serving.ca_cert, "rm-alice", DEPLOYER_TOKEN
        )
        controller = _kubeconfig(
            self.work / "kcm.kubeconfig", api_url, serving.ca_cert, "kcm", CONTROLLER_TOKEN
        )
        self.processes.start(
            "kube-controller-manager",
            [
                self._bin("kube-controller-manager"),
                "--kubeconfig", str(controller),
                "--authentication-kubeconfig", str(controller),
                "--authorization-kubeconfig", str(controller),
                "--bind-address", "127.0.0.1",
                "--secure-port", str(free_port()),
                "--cert-dir", str(self.work / "kcm-certs"),
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                "--root-ca-file", str(serving.ca_cert),
                "--service-account-private-key-file", str(self.pki / "sa.key"),
                # Fast enough for tests: ReplicaSets and Pods appear within a second or two.
                "--concurrent-deployment-syncs", "2",
                "--concurrent-replicaset-syncs", "2",
            ],
        )  # fmt: skip
        return Endpoints(api_url, serving.ca_cert, admin, deployer)

    def _wait_etcd(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self.processes.alive("etcd"):
                raise StartError(f"etcd exited during start-up:\n{self.processes.tail('etcd')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise StartError(f"etcd not healthy after 30s:\n{self.processes.tail('etcd')}")


def kube_env(work: Path, kubeconfig: Path) -> dict[str, str]:
    """Environment for kubectl: its own kubeconfig and cache dir, never ~/.kube."""
    env = dict(os.environ)
    env["KUBECONFIG"] = str(kubeconfig)
    env["KUBECACHEDIR"] = str(work / "kube-cache")
    env["HOME"] = str(work / "home")  # kubectl's other writes (plugins, config) stay here too
    (work / "home").mkdir(exist_ok=True)
    return env
