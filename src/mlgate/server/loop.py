"""The webhook's event loop: uvloop, with a deadline on the TLS handshake.

uvicorn opens its listening socket with ``loop.create_server(..., ssl=context)`` and passes
no ``ssl_handshake_timeout``, so the loop's default applies: 60 s. A client that opens a TCP
connection and never completes the handshake (or sends half a ClientHello) holds the socket,
its buffers and a file descriptor for that minute, and the header deadline of
``GuardedHttpToolsProtocol`` starts only once TLS is up. This loop gives the handshake its
own deadline, ``ServerConfig.tls_handshake_timeout_s`` (``mlgate serve
--tls-handshake-timeout``), read from the environment like the protocol's settings, so
uvicorn's worker processes get it too.
"""

from __future__ import annotations

from typing import Any

import uvloop

from mlgate.server.config import ServerConfig


class HandshakeBoundedLoop(uvloop.Loop):
    """uvicorn ``loop`` factory (``mlgate.server.loop:HandshakeBoundedLoop``)."""

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("ssl") is not None and kwargs.get("ssl_handshake_timeout") is None:
            kwargs["ssl_handshake_timeout"] = ServerConfig.from_env().tls_handshake_timeout_s
        return await super().create_server(*args, **kwargs)
