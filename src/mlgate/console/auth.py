"""Who may read the console: a bearer token, or a client certificate (mTLS).

A browser cannot send an Authorization header by itself, so the login form exchanges the
token for a session cookie (HttpOnly, Secure on TLS, SameSite=Strict) that holds an HMAC of
the token, never the token itself; rotating the token file logs every session out."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from mlgate.errors import MlgateError

COOKIE = "mlgate_console"
_MIN_TOKEN = 16


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise MlgateError(f"cannot read the console token: {err}", location=str(path)) from None
    if len(token) < _MIN_TOKEN:
        raise MlgateError(
            f"the console token must be at least {_MIN_TOKEN} characters", location=str(path)
        )
    return token


@dataclass(frozen=True)
class Authenticator:
    token: str | None  # None: mTLS alone authenticates (the TLS layer already checked)

    def session_value(self) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), b"mlgate-console-session", hashlib.sha256).hexdigest()

    def check_token(self, candidate: str) -> bool:
        return self.token is not None and hmac.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def allowed(self, authorization: str | None, cookie: str | None) -> bool:
        if self.token is None:
            return True
        if authorization and authorization.lower().startswith("bearer "):
            return self.check_token(authorization[7:].strip())
        return cookie is not None and hmac.compare_digest(
            cookie.encode(), self.session_value().encode()
        )
