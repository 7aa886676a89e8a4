"""The FastAPI app: POST /validate, GET /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from mlgate import __version__
from mlgate.server import tls
from mlgate.server.admission import ReviewError
from mlgate.server.config import ServerConfig
from mlgate.server.webhook import Webhook

log = logging.getLogger("mlgate.server")


_JSON_HEADERS = [(b"content-type", b"application/json")]


class WebhookApp(FastAPI):
    """FastAPI, with POST /validate answered at the ASGI level.

    The admission path is the only hot one: it skips FastAPI's routing and middleware stack
    (a measurable share of the per-request CPU at hundreds of requests per second) and reads
    the body itself, so that it can refuse an oversized one early. Everything else (health,
    readiness, metrics) is ordinary FastAPI.
    """

    webhook: Webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/validate":
            await self._validate(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _validate(self, scope: Scope, receive: Receive, send: Send) -> None:
        webhook = self.webhook
        if scope["method"] != "POST":
            status, payload = 405, b'{"error":"use POST with an AdmissionReview","status":405}'
        else:
            try:
                body = await read_limited(scope, receive, webhook.config.max_body_bytes)
                status, payload = await webhook.handle(body)
            except BodyTooLarge as err:
                # Answer with a denial the API server accepts (its failurePolicy never sees an
                # error it might ignore) when the uid can be read; otherwise 413.
                status, payload = await webhook.handle_oversized(err.head, err.message)
            except ReviewError as err:
                webhook.metrics.bad_requests.labels(status=str(err.status)).inc()
                log.warning(
                    "rejected admission request",
                    extra={"fields": {"status": err.status, "error": err.message}},
                )
                status = err.status
                payload = json.dumps({"error": err.message, "status": err.status}).encode()
            except _Disconnected:
                return
            except Exception:  # the API server then applies failurePolicy (Fail: denied)
                log.exception("admission request failed")
                status, payload = 500, b'{"error":"internal error","status":500}'
        headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class _Disconnected(Exception):
    pass


HEAD_BYTES = 4096


class BodyTooLarge(ReviewError):
    def __init__(self, message: str, head: bytes) -> None:
        super().__init__(message, status=413)
        self.head = head


async def read_limited(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, refusing (BodyTooLarge) past ``limit`` bytes without buffering the rest."""
    declared: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise ReviewError(f"invalid Content-Length {value[:40]!r}") from None
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit or (declared is not None and declared > limit):
            head = (b"".join(chunks) + chunk)[:HEAD_BYTES]
            size = declared if declared is not None and declared > limit else received
            raise BodyTooLarge(f"body of {size} bytes exceeds the limit of {limit} bytes", head)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def create_app(config: ServerConfig) -> FastAPI:
    webhook = Webhook(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, webhook.start)
        try:
            await loop.run_in_executor(None, webhook.warm_pool)
        except Exception:  # only the first requests get slower; still serve
            log.warning("warming the evaluation threads failed", exc_info=True)
        # Everything start-up made (modules, the engine, the pool) lives as long as the
        # process: moved out of the collector's generations, a full collection (the memory
        # releaser's after a burst, or Python's own) scans only what requests allocate. With
        # the engine loaded one took 90-470 ms of GIL-holding CPU on the loaded team machine,
        # stalling every request in flight; after gc.freeze() it takes microseconds.
        gc.freeze()
        watcher = None
        live = tls.live_context()
        if live is not None and config.tls_reload_interval_s > 0:
            watcher = asyncio.create_task(
                tls.watch(
                    live,
                    config.tls_reload_interval_s,
                    lambda ok: webhook.metrics.tls_reloads.labels(
                        result="ok" if ok else "error"
                    ).inc(),
                )
            )
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            webhook.close()

    app = WebhookApp(
        title="mlgate admission webhook",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.webhook = webhook
    app.state.webhook = webhook

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        status = webhook.reloader.status
        body = {
            "status": "ready" if status.revision else "not ready",
            "revision": status.revision,
            "loaded_at": status.loaded_at,
            "last_reload_error": status.last_error,
            "last_reload_error_at": status.last_error_at,
            "reload_failures": status.failures,
        }
        return JSONResponse(body, status_code=200 if status.revision else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(webhook.metrics.render(), media_type=webhook.metrics.content_type)

    return app


def app_from_env() -> FastAPI:
    """uvicorn ``factory`` entry point: each worker process builds its app from the env."""
    from mlgate.server import logs

    config = ServerConfig.from_env()
    logs.configure(config.log_level)
    return create_app(config)
