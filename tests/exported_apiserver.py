"""A read-only Kubernetes API over TLS on 127.0.0.1, serving exported objects.

`mlgate scan` and `mlgate impact --cluster` read a cluster through discovery (``/api``,
``/apis``, each group version's resource list), paged lists of each kind and namespace
labels. This serves exactly that from objects exported with ``kubectl get -o yaml``, so the
real client (``ClusterReader`` on the kubernetes package, through a kubeconfig) runs
unchanged in unit tests; the end-to-end tests run it against a real kube-apiserver. List
items come back without ``apiVersion``/``kind``, as the real API sends built-in lists.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "exported-cluster-token"


def _plural(kind: str) -> str:
    return kind.lower() + "s"


class ExportedCluster:
    def __init__(
        self,
        objects: list[dict[str, Any]],
        namespace_labels: dict[str, dict[str, str]],
        certs: Path,
        *,
        page_size_hint: int = 2,
    ) -> None:
        self.objects = objects
        self.namespace_labels = namespace_labels
        self.certs = certs
        self.page = page_size_hint  # small pages: the client must follow `continue`
        self.kinds: dict[tuple[str, str], set[str]] = {}  # (group, version) -> kinds
        for obj in objects:
            group, _, version = obj["apiVersion"].rpartition("/")
            self.kinds.setdefault((group, version), set()).add(obj["kind"])
        self.kinds.setdefault(("", "v1"), set()).add("Namespace")
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    # -- the API -------------------------------------------------------------------------

    def _resources(self, group: str, version: str) -> dict[str, Any]:
        return {
            "kind": "APIResourceList",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [
                {"name": _plural(kind), "kind": kind, "namespaced": kind != "Namespace",
                 "verbs": ["get", "list"]}
                for kind in sorted(self.kinds.get((group, version), ()))
            ] + [{"name": f"{_plural(k)}/status", "kind": k, "namespaced": True, "verbs": ["get"]}
                 for k in sorted(self.kinds.get((group, version), ()))],
        }  # fmt: skip

    def _list(self, group: str, version: str, plural: str, namespace: str | None, query: Any):
        items = [
            {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            for obj in self.objects
            if obj["apiVersion"] == (f"{group}/{version}" if group else version)
            and _plural(obj["kind"]) == plural
            and (namespace is None or obj["metadata"].get("namespace") == namespace)
        ]
        start = int((query.get("continue") or ["0"])[0])
        limit = min(int((query.get("limit") or ["500"])[0]), self.page)
        rest = start + limit < len(items)
        return {
            "kind": "List",
            "items": items[start : start + limit],
            "metadata": {"continue": str(start + limit) if rest else ""},
        }

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts == ["apis"]:
            groups = sorted({g for g, _ in self.kinds if g})
            return 200, {"kind": "APIGroupList", "groups": [
                {"name": g, "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                 "versions": [{"groupVersion": f"{g}/{v}", "version": v}]}
                for g in groups for v in [next(v for gg, v in self.kinds if gg == g)]
            ]}  # fmt: skip
        if parts[:1] == ["api"]:
            group, rest = "", parts[1:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, rest = parts[1], parts[2:]
        else:
            return 404, {"kind": "Status", "code": 404}
        version, rest = rest[0], rest[1:]
        if not rest:
            return 200, self._resources(group, version)
        if rest[:1] == ["namespaces"] and len(rest) == 2:
            labels = self.namespace_labels.get(rest[1])
            if labels is None:
                return 404, {"kind": "Status", "code": 404}
            return 200, {"kind": "Namespace", "metadata": {"name": rest[1], "labels": labels}}
        if rest[:1] == ["namespaces"] and len(rest) == 3:
            return 200, self._list(group, version, rest[2], rest[1], query)
        if len(rest) == 1:
            return 200, self._list(group, version, rest[0], None, query)
        return 404, {"kind": "Status", "code": 404}

    # -- serving -------------------------------------------------------------------------

    def start(self) -> ExportedCluster:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                cluster.requests.append(url.path)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    status, doc = 401, {"kind": "Status", "code": 401}
                else:
                    status, doc = cluster.answer(url.path, parse_qs(url.query))
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.certs / "tls.crt"), str(self.certs / "tls.key"))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig(self, path: Path) -> Path:
        import yaml

        assert self._server is not None
        port = self._server.server_address[1]
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "exported",
            "clusters": [{"name": "exported", "cluster": {
                "server": f"https://127.0.0.1:{port}",
                "certificate-authority": str(self.certs / "ca.crt")}}],
            "users": [{"name": "reader", "user": {"token": TOKEN}}],
            "contexts": [{"name": "exported", "context": {"cluster": "exported", "user": "reader"}}],
        }))  # fmt: skip
        return path
