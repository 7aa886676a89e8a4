"""The console's routes. Read-only: GET pages, plus POST /login to start a session."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from mlgate.audit.masking import Masker
from mlgate.console import pages
from mlgate.console.auth import COOKIE, Authenticator
from mlgate.console.data import OUTCOMES, ConsoleData, DecisionFilter
from mlgate.console.impact_view import ImpactView
from mlgate.errors import MlgateError
from mlgate.policyset import load_policy_set
from mlgate.report.html import esc
from mlgate.report.impact_html import impact_body

log = logging.getLogger("mlgate.console")

SECURITY_HEADERS = {
    # Inline CSS only; no script, no external asset, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
OPEN_PATHS = frozenset({"/login", "/healthz"})
MAX_LOGIN_BODY = 4096


@dataclass(frozen=True)
class ConsoleConfig:
    audit_db: Path
    policy_dir: Path
    token: str | None
    secure_cookie: bool = True
    proposed: str | None = None
    impact_since: str = "30d"
    mask_key: bytes | None = None


def create_app(config: ConsoleConfig) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    auth = Authenticator(config.token)
    data = ConsoleData(config.audit_db)
    policy_set = load_policy_set(config.policy_dir)
    masker = Masker("hash", config.mask_key) if config.mask_key else Masker("mask")
    impact = ImpactView(config.audit_db, config.policy_dir, config.proposed, config.impact_since)

    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status_code=status)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path not in OPEN_PATHS and not auth.allowed(
            request.headers.get("authorization"), request.cookies.get(COOKIE)
        ):
            if "authorization" in request.headers or request.method != "GET":
                response: Response = PlainTextResponse("unauthorized", status_code=401)
                response.headers["WWW-Authenticate"] = 'Bearer realm="mlgate-console"'
            else:
                response = RedirectResponse("/login", status_code=303)
        else:
            try:
                response = await call_next(request)
            except Exception:  # a console bug shows an error page, never a traceback
                log.exception("console page failed")
                response = PlainTextResponse("internal error (logged)", status_code=500)
        for key, value in SECURITY_HEADERS.items():
            response.headers[key] = value
        return response

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/login", response_class=HTMLResponse)
    def login_form() -> HTMLResponse:
        return html(pages.login_page())

    @app.post("/login")
    async def login(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_LOGIN_BODY:
            return html(pages.login_page("Request too large."), 413)
        token = parse_qs(body.decode(errors="replace")).get("token", [""])[0]
        if auth.token is None:
            return RedirectResponse("/models", status_code=303)
        if not auth.check_token(token):
            return html(pages.login_page("That token is not valid."), 401)
        response = RedirectResponse("/models", status_code=303)
        response.set_cookie(
            COOKIE,
            auth.session_value(),
            httponly=True,
            secure=config.secure_cookie,
            samesite="strict",
        )
        return response

    @app.get("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/")
    def root() -> Response:
        return RedirectResponse("/models", status_code=303)

    @app.get("/models", response_class=HTMLResponse)
    def models() -> HTMLResponse:
        return html(pages.models_page(data.models(), policy_set))

    @app.get("/decisions", response_class=HTMLResponse)
    def decisions(
        namespace: str = "",
        control: str = "",
        outcome: str = "any",
        since: str = "",
        until: str = "",
    ) -> HTMLResponse:
        from mlgate.cli.cmd_impact import parse_time

        raw = {"since": since, "until": until}
        error, status = "", 200
        try:
            if outcome not in OUTCOMES:
                raise MlgateError(f"outcome must be one of {', '.join(OUTCOMES)}")
            flt = DecisionFilter(
                namespace=namespace,
                control=control,
                outcome=outcome,
                since_ns=parse_time(since, "From") if since else None,
                until_ns=parse_time(until, "To") if until else None,
            )
        except MlgateError as err:
            error, status = err.message, 400
            flt = DecisionFilter(namespace=namespace, control=control)
        rows, truncated = data.decisions(flt)
        namespaces, controls = data.facets()
        controls = sorted(set(controls) | set(policy_set.catalogue.controls))
        return html(
            pages.decisions_page(
                rows, truncated, flt, raw, namespaces, controls, policy_set.revision, error
            ),
            status,
        )

    @app.get("/decisions/{seq}", response_class=HTMLResponse)
    def decision(seq: int) -> HTMLResponse:
        record = data.record(seq)
        if record is None:
            return html(
                pages.shell(
                    "not found", "<h2>No such decision</h2>", "/decisions", policy_set.revision
                ),
                404,
            )
        return html(pages.decision_page(record, policy_set.revision))

    @app.get("/controls", response_class=HTMLResponse)
    def controls() -> HTMLResponse:
        return html(pages.controls_page(policy_set))

    @app.get("/exemptions", response_class=HTMLResponse)
    def exemptions() -> HTMLResponse:
        return html(pages.exemptions_page(policy_set, masker))

    @app.get("/impact", response_class=HTMLResponse)
    def impact_view() -> HTMLResponse:
        try:
            report = impact.report(data.head())
        except MlgateError as err:
            problem = f'<p class="deny" role="alert">{esc(err)}</p>'
            return html(pages.impact_page(problem, policy_set.revision), 500)
        if report is None:
            body = (
                "<p>No proposed policy set configured. Start the console with "
                "<code>--proposed DIR|git:REV|BUNDLE</code>, or run <code>mlgate impact</code> "
                "in the pull request.</p>"
            )
        else:
            body = impact_body(report)
        return html(pages.impact_page(body, policy_set.revision))

    return app
