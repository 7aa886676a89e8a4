"""uvicorn's httptools protocol with the timeouts and limits it lacks (uvicorn 0.54).

uvicorn bounds only the idle time *between* requests (``timeout_keep_alive``). A client that
opens a connection and then sends nothing, or sends its headers or body a byte at a time,
holds the connection, and an ASGI task, for as long as it likes (slowloris). This subclass
adds, per connection:

- a header deadline: from the connection (after TLS) or the first byte of a request to the
  end of its headers;
- a body deadline: from the end of the headers to the end of the body;
- a bound on the request line plus headers.

A client past a deadline gets ``408`` (when no response has started) and is disconnected; an
oversized header section gets uvicorn's own ``400`` and a disconnect. The settings come from
the webhook's ServerConfig in the environment, so uvicorn's worker processes get them too.
It relies on HttpToolsProtocol's parser callbacks (``on_message_begin``, ``on_url``,
``on_header``, ``on_headers_complete``, ``on_message_complete``), which is why it lives here.
``tests/test_hostile_server.py::test_uvicorn_still_lacks_request_timeouts`` fails when a
uvicorn release adds a timeout setting: then check whether this adapter can go.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlgate.server.config import ServerConfig

log = logging.getLogger("mlgate.server")

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: 44\r\n\r\n"
    b'{"error":"request timed out","status":408}\r\n'
)


class HeaderTooLarge(ValueError):
    pass


@functools.lru_cache(maxsize=1)
def _settings() -> ServerConfig:
    return ServerConfig.from_env()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings()
        self._header_timeout = settings.header_timeout_s
        self._body_timeout = settings.body_timeout_s
        self._max_header_bytes = settings.max_header_bytes
        self._header_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    # -- deadlines -----------------------------------------------------------------------

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        if seconds > 0:
            self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning(
            "closing a slow connection",
            extra={"fields": {"client": _peer(self.client), "phase": phase}},
        )
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()

    # -- protocol and parser callbacks ---------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm(self._header_timeout, "headers")

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._arm(self._body_timeout, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self._max_header_bytes:
            # Raised inside the parser: uvicorn answers 400 and closes the connection.
            raise HeaderTooLarge(f"request headers exceed {self._max_header_bytes} bytes")


def _peer(client: Any) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
