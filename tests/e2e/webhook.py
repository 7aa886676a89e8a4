"""`mlgate serve` on the host, and the shipped webhook/ manifests installed for it.

The webhook runs outside the cluster, so the shipped ValidatingWebhookConfiguration gets the
URL variant of clientConfig (``url`` + ``caBundle``) in place of the in-cluster Service; every
other field (rules, namespaceSelector, matchConditions, failurePolicy, timeouts) is applied
exactly as shipped. The webhook authenticates to the API server with a service-account
token of the shipped ServiceAccount, so the shipped RBAC is what lets it read namespace
labels. No engine is chosen here: the webhook runs on the default engine.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from e2e.cluster import Endpoints, wait_https
from e2e.processes import Processes, free_port

REPO = Path(__file__).resolve().parents[2]
MLGATE = [sys.executable, "-m", "mlgate.cli.main"]
NAME = "mlgate-webhook"


def mlgate(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MLGATE, *args], capture_output=True, text=True, check=check)


class HostWebhook:
    """One `mlgate serve` process; restartable on the same port (the URL the API server has)."""

    def __init__(self, processes: Processes, work: Path, endpoints: Endpoints) -> None:
        self.processes = processes
        self.endpoints = endpoints
        self.port = free_port()
        self.certs = work / "webhook-pki"
        self.policies = work / "policies"  # a copy: the hot-reload scenario edits it
        self.audit_db = work / "audit.db"
        self.token_file = work / "webhook-sa.token"
        if not self.policies.exists():
            shutil.copytree(REPO / "policies", self.policies)
        mlgate("certs", "--out", str(self.certs))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/validate"

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode((self.certs / "ca.crt").read_bytes()).decode()

    def start(self) -> None:
        self.processes.start(
            NAME,
            [
                *MLGATE, "serve",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--cert", str(self.certs / "tls.crt"), "--key", str(self.certs / "tls.key"),
                "--policies", str(self.policies),
                "--audit-db", str(self.audit_db),
                "--kube-api", self.endpoints.api_url,
                "--kube-token-file", str(self.token_file),
                "--kube-ca-file", str(self.endpoints.ca_file),
                "--reload-interval", "0.5",
            ],
        )  # fmt: skip
        wait_https(
            f"https://127.0.0.1:{self.port}/readyz", self.certs / "ca.crt", "",
            timeout_s=90, proc=NAME, processes=self.processes,
        )  # fmt: skip

    def stop(self) -> None:
        self.processes.stop(NAME)

    def _get(self, path: str) -> httpx.Response:
        context = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        with httpx.Client(verify=context, timeout=5) as http:
            return http.get(f"https://127.0.0.1:{self.port}{path}")

    def revision(self) -> str:
        return self._get("/readyz").json()["revision"]

    def metrics(self) -> str:
        return self._get("/metrics").text

    def records(self) -> list[dict[str, Any]]:
        """The decision records of the log (it also chains checkpoints and replay inputs)."""
        out = mlgate("audit", "export", "--db", str(self.audit_db), "--output", "jsonl").stdout
        records = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [r for r in records if r.get("type") == "decision"]

    def record(self, decision_id: str) -> dict[str, Any]:
        for record in self.records():
            if record.get("decision_id") == decision_id:
                return record
        raise AssertionError(f"decision {decision_id} is not in the decision log")

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.processes.log(NAME).read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


def url_variant(documents: list[dict[str, Any]], url: str, ca_bundle: str) -> list[dict[str, Any]]:
    """The shipped objects with each webhook's clientConfig pointed at ``url``."""
    out = []
    for doc in documents:
        if doc.get("kind") == "ValidatingWebhookConfiguration":
            doc = json.loads(json.dumps(doc))
            for hook in doc["webhooks"]:
                hook["clientConfig"] = {"url": url, "caBundle": ca_bundle}
        out.append(doc)
    return out


def load_documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def wait_until(predicate, timeout_s: float = 30.0, interval_s: float = 0.2):  # type: ignore[no-untyped-def]
    """The first truthy value of ``predicate()``, or the last value after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = predicate()
    return value
