"""Namespace labels for admission requests (AdmissionReview v1 does not carry them).

The environment a model is deployed to comes from the namespace label
``mlgate.io/environment``. Sources:

- ``KubeNamespaceLabels``: ``GET /api/v1/namespaces/<ns>`` with the pod's service account
  token (RBAC: get namespaces), cached with a TTL. Look-ups run on the evaluation thread
  inside the request deadline, with a short timeout, one retry and a circuit breaker, so a
  slow API server cannot stall admission. When the labels cannot be had, a recent cached
  copy is used (``max_stale_s``); otherwise the request sees no labels, which the policies
  treat as *production*, the strictest environment: the lookup fails closed. ``lookup``
  also says so (``available=False``): an unreachable API server is an infrastructure fault,
  which ``--fail-open`` may turn into an admission.
- ``StaticNamespaceLabels``: a YAML/JSON file ``{namespace: {label: value}}`` for development,
  tests and clusters without API access.
- ``NoNamespaceLabels``: every namespace is production.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

log = logging.getLogger("mlgate.namespaces")

IN_CLUSTER_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class NamespaceLabels(Protocol):
    def get(self, namespace: str) -> dict[str, str]: ...

    def lookup(self, namespace: str) -> tuple[dict[str, str], bool]:
        """The labels, and False when they could not be had (then: no labels)."""
        ...

    def close(self) -> None: ...


class NoNamespaceLabels:
    def get(self, namespace: str) -> dict[str, str]:
        return {}

    def lookup(self, namespace: str) -> tuple[dict[str, str], bool]:
        return {}, True

    def close(self) -> None:
        pass


class StaticNamespaceLabels:
    def __init__(self, path: str | Path) -> None:
        import yaml

        from mlgate.errors import MlgateError

        self.path = Path(path)
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise MlgateError(
                f"cannot read namespace labels: {err}", location=str(self.path)
            ) from None
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
            for v in data.values()
        ):
            raise MlgateError(
                "expected a mapping {namespace: {label: value}} of strings", location=str(self.path)
            )
        self._labels = {str(k): dict(v) for k, v in data.items()}

    def get(self, namespace: str) -> dict[str, str]:
        return self._labels.get(namespace, {})

    def lookup(self, namespace: str) -> tuple[dict[str, str], bool]:
        return self.get(namespace), True

    def close(self) -> None:
        pass


class KubeNamespaceLabels:
    def __init__(
        self,
        api_url: str,
        *,
        token_file: Path | None = IN_CLUSTER_DIR / "token",
        ca_file: Path | None = IN_CLUSTER_DIR / "ca.crt",
        ttl_s: float = 30.0,
        max_stale_s: float = 300.0,
        timeout_s: float = 1.0,
        breaker_threshold: int = 5,
        breaker_reset_s: float = 10.0,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        import httpx

        self.api_url = api_url.rstrip("/")
        self.token_file = token_file
        self.ttl_s = ttl_s
        self.max_stale_s = max_stale_s
        self._on_result = on_result
        verify: str | bool = str(ca_file) if ca_file is not None and ca_file.exists() else True
        self._client = httpx.Client(timeout=timeout_s, verify=verify)
        self._cache: dict[str, tuple[dict[str, str], float]] = {}
        self._lock = threading.Lock()
        self._failures = 0
        self._breaker_threshold = breaker_threshold
        self._breaker_reset_s = breaker_reset_s
        self._open_until = 0.0

    @classmethod
    def in_cluster(cls, **kw: object) -> KubeNamespaceLabels | None:
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT"),
        )
        if not host or not port or not (IN_CLUSTER_DIR / "token").exists():
            return None
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", **kw)  # type: ignore[arg-type]

    def _report(self, result: str) -> None:
        if self._on_result is not None:
            self._on_result(result)

    def get(self, namespace: str) -> dict[str, str]:
        return self.lookup(namespace)[0]

    def lookup(self, namespace: str) -> tuple[dict[str, str], bool]:
        if not namespace:
            return {}, True
        now = time.monotonic()
        cached = self._cache.get(namespace)
        if cached is not None and now - cached[1] < self.ttl_s:
            self._report("hit")
            return cached[0], True
        labels = self._fetch(namespace)
        if labels is not None:
            with self._lock:
                self._cache[namespace] = (labels, time.monotonic())
            self._report("fetched")
            return labels, True
        if cached is not None and now - cached[1] < self.max_stale_s:
            self._report("stale")
            return cached[0], True
        self._report("unavailable")
        log.warning("namespace %s: labels unavailable, treating it as production", namespace)
        return {}, False

    def _fetch(self, namespace: str) -> dict[str, str] | None:
        import httpx

        if time.monotonic() < self._open_until:
            return None  # circuit open: do not pile up on a failing API server
        headers = {"Accept": "application/json"}
        if self.token_file is not None:
            try:
                # Bound service account tokens rotate: read the file on every fetch.
                headers["Authorization"] = "Bearer " + self.token_file.read_text().strip()
            except OSError as err:
                log.warning("cannot read service account token: %s", err)
        url = f"{self.api_url}/api/v1/namespaces/{quote(namespace, safe='')}"
        for attempt in range(2):
            try:
                response = self._client.get(url, headers=headers)
                if response.status_code == 404:
                    self._failures = 0
                    return {}
                response.raise_for_status()
                labels = response.json().get("metadata", {}).get("labels") or {}
                self._failures = 0
                return {str(k): str(v) for k, v in labels.items()}
            except (httpx.HTTPError, ValueError, AttributeError) as err:
                if attempt == 1:
                    log.warning("namespace %s: label lookup failed: %s", namespace, err)
        self._failures += 1
        if self._failures >= self._breaker_threshold:
            self._open_until = time.monotonic() + self._breaker_reset_s
            self._failures = 0
            log.warning(
                "namespace label look-ups failing; pausing them for %.0fs", self._breaker_reset_s
            )
        return None

    def close(self) -> None:
        self._client.close()


def load_namespace_source(
    *,
    static_file: str | Path | None = None,
    kube_api: str | None = None,
    kube_token_file: str | Path | None = None,
    kube_ca_file: str | Path | None = None,
    ttl_s: float = 30.0,
    on_result: Callable[[str], None] | None = None,
) -> NamespaceLabels:
    if static_file:
        return StaticNamespaceLabels(static_file)
    if kube_api == "in-cluster" or kube_api is None:
        source = KubeNamespaceLabels.in_cluster(ttl_s=ttl_s, on_result=on_result)
        if source is not None:
            return source
        if kube_api == "in-cluster":
            from mlgate.errors import MlgateError

            raise MlgateError("--kube-api in-cluster: not running in a Kubernetes pod")
        log.info("no Kubernetes API configured: every namespace is treated as production")
        return NoNamespaceLabels()
    return KubeNamespaceLabels(
        kube_api,
        token_file=Path(kube_token_file) if kube_token_file else None,
        ca_file=Path(kube_ca_file) if kube_ca_file else None,
        ttl_s=ttl_s,
        on_result=on_result,
    )


def describe(source: NamespaceLabels) -> str:
    if isinstance(source, KubeNamespaceLabels):
        return f"kubernetes API {source.api_url}"
    if isinstance(source, StaticNamespaceLabels):
        return f"file {source.path}"
    return "none (production)"


__all__ = [
    "KubeNamespaceLabels",
    "NamespaceLabels",
    "NoNamespaceLabels",
    "StaticNamespaceLabels",
    "describe",
    "load_namespace_source",
]
