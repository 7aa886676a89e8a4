"""Reads a cluster through the Kubernetes API: what exists, for every kind the adapters know.

Discovery finds where each adapter's kind is served, matched by API group *and* kind (a core
``Service`` is not Knative's ``serving.knative.dev`` Service), at a version the adapter reads:
the group's preferred version when the adapter reads it, else the first version the adapter
lists that the group serves (KServe serves InferenceService at v1beta1 and ServingRuntime,
TrainedModel, LLMInferenceService at v1alpha1 in the same group). A kind the cluster does not
serve (its CRD is not installed), or serves only at versions the adapter does not read, is
reported with the reason, not guessed at. Objects
are listed page by page; each list item gets its ``apiVersion`` and ``kind`` back (the API
omits them on items of built-in lists). Namespace labels are read once per namespace, since
they decide the environment exactly as they do for the webhook.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mlgate.errors import MlgateError
from mlgate.subjects.kinds import KindAdapter

PAGE_SIZE = 250


class ClusterError(MlgateError):
    """The API server could not be reached or refused a request the scan needs."""

    code = "cluster_error"


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


@dataclass(frozen=True)
class UnservedKind:
    group: str
    kind: str
    resource: str
    reason: str

    @property
    def name(self) -> str:
        """As kubectl and CRDs name it: ``clusterservingruntimes.serving.kserve.io``."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


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
            raise ClusterError(
                f"cannot load the kubeconfig: {err}", location=where, code="cluster.kubeconfig"
            ) from None

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

    def served(
        self, adapters: Iterable[KindAdapter]
    ) -> tuple[list[ServedKind], list[UnservedKind]]:
        """Where each adapter's (group, kind) is served, and the ones that are not (why)."""
        groups: dict[str, tuple[str, list[str]]] = {"": ("v1", ["v1"])}
        for group in self.get("/apis").get("groups", []):
            versions = [v.get("version", "") for v in group.get("versions", [])]
            preferred = group.get("preferredVersion", {}).get("version", "")
            groups[group.get("name", "")] = (preferred, [v for v in versions if v])
        resources: dict[tuple[str, str], dict[str, Any]] = {}

        def listable(group: str, version: str, kind: str) -> dict[str, Any] | None:
            if (group, version) not in resources:
                path = f"/apis/{group}/{version}" if group else f"/api/{version}"
                resources[group, version] = {
                    r.get("kind"): r
                    for r in self.get(path).get("resources", [])
                    # subresources (status, scale) and what cannot be listed are not read
                    if "/" not in r.get("name", "/") and "list" in r.get("verbs", [])
                }
            return resources[group, version].get(kind)

        found: list[ServedKind] = []
        missing: list[UnservedKind] = []
        for adapter in adapters:
            preferred, versions = groups.get(adapter.group, ("", []))
            ordered = [preferred] if preferred in adapter.versions else []
            ordered += [v for v in adapter.versions if v != preferred]
            served_at = next(
                (
                    (v, r)
                    for v in ordered
                    if v in versions and (r := listable(adapter.group, v, adapter.kind))
                ),
                None,
            )
            if served_at is not None:
                version, resource = served_at
                found.append(
                    ServedKind(
                        adapter.group, version, adapter.kind, resource["name"],
                        bool(resource.get("namespaced")),
                    )
                )  # fmt: skip
                continue
            elsewhere = [v for v in versions if listable(adapter.group, v, adapter.kind)]
            reason = (
                f"served only at {', '.join(elsewhere)}; mlgate reads {', '.join(adapter.versions)}"
                if elsewhere
                else "not served by this API server (is its CRD installed?)"
            )
            missing.append(UnservedKind(adapter.group, adapter.kind, adapter.resource, reason))
        return found, missing

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
