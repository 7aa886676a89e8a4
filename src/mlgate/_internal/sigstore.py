"""sigstore-python 4.x private API: how a verified bundle's signing time was established.

``Verifier.verify_dsse`` establishes the signing time (from an RFC 3161 timestamp or the
Rekor entry) but does not say which; the verification facts report it
(``timestamp_source``). The only way to learn it is the verifier's private
``_establish_time`` and the private ``TimestampSource`` enum. Also the trust roots sigstore
ships as package data (private ``sigstore._store`` layout), read only by the refresh tool
``tools/sigstore_roots`` (never at runtime: the runtime reads the roots mlgate ships).

``tests/test_internal_adapters.py`` fails loudly when sigstore moves any of these.
"""

from __future__ import annotations

from typing import Any

TUF_URLS = {
    "production": "https://tuf-repo-cdn.sigstore.dev",
    "staging": "https://tuf-repo-cdn.sigstage.dev",
}


def timestamp_source(verifier: Any, bundle: Any) -> str | None:
    """``rfc3161``, ``rekor`` or ``none`` for a bundle the verifier verified; None: unknown.

    A sigstore release that moves the routine yields None ("unknown"), never a rejection of a
    verified bundle; the adapter test catches the move.
    """
    try:
        from sigstore._internal.timestamp import TimestampSource

        sources = {r.source for r in verifier._establish_time(bundle)}
    except Exception:
        return None
    if TimestampSource.TIMESTAMP_AUTHORITY in sources:
        return "rfc3161"
    return "rekor" if sources else "none"


def bundled_trusted_root(name: str) -> bytes:
    """The ``trusted_root.json`` the installed sigstore package ships for a TUF repository."""
    from importlib import resources
    from urllib.parse import quote

    store = resources.files("sigstore._store").joinpath(quote(TUF_URLS[name], safe=""))
    return store.joinpath("trusted_root.json").read_bytes()


def tuf_trusted_root(name: str) -> bytes:
    """The ``trusted_root.json`` of a Sigstore TUF repository, fetched and verified by TUF.

    Network: the repository's CDN. sigstore's ``TrustUpdater`` does the TUF client work (root
    rotation, signatures, expiry) from the root it ships; its path is private API.
    """
    from pathlib import Path

    from sigstore._internal.tuf import TrustUpdater

    return Path(TrustUpdater(TUF_URLS[name], False).get_trusted_root_path()).read_bytes()
