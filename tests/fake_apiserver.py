"""A Kubernetes API server that only knows discovery, for `kubectl apply --dry-run=client`.

kubectl maps every manifest's apiVersion/kind to a REST resource through the server's
discovery documents, even for a client-side dry run, then asks for the live object (404:
"create"). This serves just that, on loopback, for the kinds the webhook manifests use, so
kubectl checks them (parsing, kustomize, kinds, scopes) without a cluster.
"""

from __future__ import annotations

from typing import Any

from http_stub import HTTPStub, Reply, Request

# group/version -> [(resource, kind, namespaced)]
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("serviceaccounts", "ServiceAccount", True),
        ("services", "Service", True),
        ("secrets", "Secret", True),
        ("configmaps", "ConfigMap", True),
        ("pods", "Pod", True),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)],
    "batch/v1": [("jobs", "Job", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
    ],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "admissionregistration.k8s.io/v1": [
        ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
    ],
    "cert-manager.io/v1": [("issuers", "Issuer", True), ("certificates", "Certificate", True)],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resource_list(group_version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": name,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": VERBS,
            }
            for name, kind, namespaced in RESOURCES[group_version]
        ],
    }


def _groups() -> dict[str, Any]:
    groups = []
    for gv in RESOURCES:
        if "/" not in gv:
            continue
        group, version = gv.split("/")
        entry = {"groupVersion": gv, "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _answer(request: Request) -> Reply:
    path = request.path.rstrip("/")
    if path == "/api":
        return Reply(
            200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        )
    if path == "/apis":
        return Reply(200, _groups())
    if path == "/api/v1":
        return Reply(200, _resource_list("v1"))
    if path.startswith("/apis/") and path.count("/") == 3 and path[6:] in RESOURCES:
        return Reply(200, _resource_list(path[6:]))
    if path == "/version":
        return Reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
    return Reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "reason": "NotFound", "code": 404, "message": f"{path} not found"})  # fmt: skip


class FakeDiscovery(HTTPStub):
    def __init__(self) -> None:
        super().__init__(_answer)
