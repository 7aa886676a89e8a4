"""TLS for the webhook: a server context from files, reloaded in place when they rotate.

cert-manager (or a Secret update) rewrites ``tls.crt``/``tls.key`` under the pod without a
restart. ``SSLContext.load_cert_chain`` on the live context changes the certificate that new
connections get (OpenSSL copies the context's certificate into each new connection), while
established connections keep theirs. The reload runs on the event loop thread, the thread
that creates connections from the context, so it never races a handshake. A half-written
rotation (new cert, old key) fails to load and is retried on the next tick; the old pair
stays in use meanwhile.

With ``client_ca`` the server requires a client certificate (mTLS: only the API server,
configured with a client certificate via ``--admission-control-config-file``, may call).
A rotated client CA bundle is added to the trust store; removing a CA takes a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("mlgate.tls")


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None


def build_context(files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(files.cert), str(files.key))
    if files.client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(files.client_ca))
    # The API server speaks HTTP/1.1 to webhooks that do not offer h2.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)  # follows the ..data symlink swap of mounted Secrets
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class LiveContext:
    """A server SSLContext plus what is needed to reload it when its files change."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self.context = build_context(files)
        self._stamps = self._current()

    def _current(self) -> tuple[Any, ...]:
        return (_stamp(self.files.cert), _stamp(self.files.key), _stamp(self.files.client_ca))

    def reload_if_changed(self) -> bool | None:
        """True: reloaded; False: reload failed (old pair kept); None: nothing changed."""
        stamps = self._current()
        if stamps == self._stamps:
            return None
        try:
            self.context.load_cert_chain(str(self.files.cert), str(self.files.key))
            if self.files.client_ca is not None and stamps[2] != self._stamps[2]:
                self.context.load_verify_locations(cafile=str(self.files.client_ca))
        except (OSError, ssl.SSLError) as err:
            log.warning("TLS reload failed, keeping the previous certificate: %s", err)
            return False  # stamps unchanged: retried next tick (the rotation may be half done)
        self._stamps = stamps
        log.info("TLS certificate reloaded", extra={"fields": {"cert": str(self.files.cert)}})
        return True


# The context uvicorn serves with, per process: set by the factory during uvicorn's
# Config.load(), read by the app's watcher task. Module state because uvicorn creates the
# context and the app separately (and in each worker process).
_LIVE: LiveContext | None = None


def live_context() -> LiveContext | None:
    return _LIVE


class ContextFactory:
    """``ssl_context_factory`` for uvicorn. Picklable (paths only) for worker processes."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files

    def __call__(self, config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        global _LIVE
        _LIVE = LiveContext(self.files)
        return _LIVE.context


async def watch(
    live: LiveContext, interval_s: float, on_result: Callable[[bool], None] | None = None
) -> None:
    """Runs on the server's event loop until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = live.reload_if_changed()
        except Exception:
            log.exception("TLS watcher failed")
            continue
        if result is not None and on_result is not None:
            on_result(result)
