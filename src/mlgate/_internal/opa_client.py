"""opa-python-client 3.x private API: the client's ``requests`` session.

``OpaClient`` offers no way to set the connection pool, retries or per-call timeouts, and its
public calls cover neither the raw Data API reads nor the policy pushes the OPA backend makes;
both need its private ``_session``. Going through this one function keeps that dependency in
one place; ``tests/test_internal_adapters.py`` fails loudly when the attribute moves.
"""

from __future__ import annotations

from typing import Any

import requests


def session_of(client: Any) -> requests.Session:
    session = client._session
    if not isinstance(session, requests.Session):
        raise TypeError(f"OpaClient._session is a {type(session).__name__}, not a requests.Session")
    return session
