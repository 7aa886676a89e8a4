"""The one HTTP stub of the test suite: a real server on 127.0.0.1, answers chosen per request.

``HTTPStub(answer)`` runs stdlib ``ThreadingHTTPServer`` in a thread; ``answer(request)`` returns
a :class:`Reply` (a ``dict`` body is sent as JSON). It counts requests per path (``hits``) and is
a context manager (or call ``close()``). Used for signature stores, Kubernetes API discovery and
namespace lookups: the code under test speaks real HTTP to it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    headers: Mapping[str, str]


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
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.hits: Counter[str] = Counter()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                stub.hits[path] += 1
                reply = stub.answer(Request("GET", path, dict(self.headers)))
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
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HTTPStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
