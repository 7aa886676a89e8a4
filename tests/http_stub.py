"""The one HTTP stub of the test suite: a real server on 127.0.0.1 (HTTP or
HTTPS), answers chosen per request.

``HTTPStub(answer)`` runs stdlib ``ThreadingHTTPServer`` in a thread; ``answer(request)`` returns
a :class:`Reply` (a ``dict`` body is sent as JSON). It counts requests per path (``hits``) and is
a context manager (or call ``close()``). Used for signature stores, Kubernetes API discovery and
namespace lookups: the code under test speaks real HTTP to it.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    headers: Mapping[str, str]  # case-insensitive lookups (the request's Message)
    query: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    # False: no Content-Length, and the connection closes after the body (a server that
    # does not say how much it sends).
    content_length: bool = True


Answer = Callable[[Request], Reply]


class HTTPStub:
    def __init__(self, answer: Answer, *, tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: ``(certificate, key)`` PEM files to serve HTTPS instead of HTTP."""
        self.answer = answer
        self.hits: Counter[str] = Counter()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                stub.hits[url.path] += 1
                reply = stub.answer(Request("GET", url.path, self.headers, parse_qs(url.query)))
                body = reply.body
                if isinstance(body, dict):
                    body = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **reply.headers}
                else:
                    headers = dict(reply.headers)
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if reply.content_length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.port = self._server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HTTPStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
