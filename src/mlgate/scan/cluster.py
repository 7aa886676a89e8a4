"""Reads a cluster through the Kubernetes API: what exists, for every kind the adapters know.

Discovery finds where each kind is served (group, preferred version, plural, scope); kinds a
cluster does not serve (a CRD that is not installed) are reported, not guessed at. Objects
are listed page by page; each list item gets its ``apiVersion`` and ``kind`` back (the API
omits them on items of built-in lists). Namespace labels are read once per namespace, since
they decide the environment exactly as they do for the webhook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlgate.errors import MlgateError

PAGE_SIZE = 250


class ClusterError(MlgateError):
    """The API server could not be reached or refused a request the scan needs."""


@dataclass(frozen=True)
class ServedKind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


class ClusterReader:
    def __init__(self, api_client: Any) -> None:
        self.api = api_client
        self._namespace_labels: dict[str, dict[str, str]] = {}

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None, context: str | None) -> ClusterReader:
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        try:
            return cls(config.new_client_from_config(config_file=kubeconfig, context=context))
        except (ConfigException, OSError, TypeError) as err:
            where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
            raise ClusterError(f"cannot load the kubeconfig: {err}", location=where) from None

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def get(self, path: str, query: list[tuple[str, Any]] | None = None) -> dict[str, Any]:
        from urllib3.exceptions import HTTPError

        method, url, headers, body, post = self.api.param_serialize(
            "GET", path, query_params=query or [], auth_settings=["BearerToken"]
        )
        try:
            response = self.api.call_api(method, url, headers, body, post, _request_timeout=30)
            response.read()
        except (HTTPError, OSError) as err:
            raise ClusterError(f"GET {path}: {err}", location=self.server) from None
        if not 200 <= response.status < 300:
            raise ClusterError(
                f"GET {path}: {response.status} {response.reason}", location=self.server
            )
        try:
            document: dict[str, Any] = json.loads(response.data)
            return document
        except ValueError as err:
            raise ClusterError(f"GET {path}: not JSON: {err}", location=self.server) from None

    def served(self, kinds: set[str]) -> list[ServedKind]:
        """Where each of ``kinds`` is served: one entry per group (its preferred version)."""
        found: list[ServedKind] = []
        group_versions = [("", "v1")]
        for group in self.get("/apis").get("groups", []):
            preferred = group.get("preferredVersion", {}).get("version")
            if preferred:
                group_versions.append((group["name"], preferred))
        for group, version in group_versions:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            for resource in self.get(path).get("resources", []):
                name = resource.get("name", "")
                if "/" in name or resource.get("kind") not in kinds:
                    continue  # subresources (status, scale) and kinds no adapter reads
                if "list" not in resource.get("verbs", []):
                    continue
                found.append(
                    ServedKind(group, version, resource["kind"], name, resource["namespaced"])
                )
        return found

    def objects(self, served: ServedKind, namespace: str | None) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
            if token:
                query.append(("continue", token))
            page = self.get(served.path(namespace), query)
            for item in page.get("items") or []:
                yield {"apiVersion": served.api_version, "kind": served.kind, **item}
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        if not namespace:
            return {}
        if namespace not in self._namespace_labels:
            ns = self.get(f"/api/v1/namespaces/{namespace}")
            labels = (ns.get("metadata") or {}).get("labels") or {}
            self._namespace_labels[namespace] = {str(k): str(v) for k, v in labels.items()}
        return self._namespace_labels[namespace]
