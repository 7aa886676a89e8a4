"""Bundle sources: inline annotations, the store directory, and HTTP behind an allow-list.

The HTTP tests run a real server on 127.0.0.1 (stdlib http.server in a thread).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from http_stub import HTTPStub, Reply, Request
from mlgate.supplychain import sources as sources_mod
from mlgate.supplychain.sources import BundleSources

BUNDLE = b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}'
LIMIT = 4096


class Store:
    """What the HTTPS signature store answers, per path."""

    flaky_left = 0

    def answer(self, request: Request) -> Reply:
        path = request.path
        if path == "/bundles/ok.sig":
            return Reply(200, BUNDLE)
        if path == "/bundles/big.sig":
            return Reply(200, b"x" * (LIMIT + 1))
        if path == "/bundles/sneaky.sig":  # lies about its length by not saying it
            return Reply(200, b"x" * (LIMIT * 4), content_length=False)
        if path == "/bundles/slow.sig":
            time.sleep(3.0)
            return Reply(200, BUNDLE)
        if path == "/bundles/flaky.sig":
            if self.flaky_left > 0:
                self.flaky_left -= 1
                return Reply(503, b"busy")
            return Reply(200, BUNDLE)
        if path == "/bundles/down.sig":
            return Reply(500, b"down")
        if path == "/bundles/moved.sig":
            return Reply(302, headers={"Location": "/bundles/ok.sig"})
        return Reply(404, b"not found")


STORE = Store()


@pytest.fixture(scope="module")
def stub() -> Iterator[HTTPStub]:
    with HTTPStub(STORE.answer) as running:
        yield running


@pytest.fixture(scope="module")
def server(stub: HTTPStub) -> str:
    return stub.url


@pytest.fixture()
def http_sources(stub: HTTPStub, server: str) -> Iterator[BundleSources]:
    stub.hits.clear()
    src = BundleSources(
        None, [f"{server}/bundles/"], max_bytes=LIMIT, timeout=0.3, http_cache_ttl=0
    )
    yield src
    src.close()


def ref(kind: str, value: str) -> dict[str, str]:
    return {f"mlgate.io/{kind}-ref": value}


# --- inline --------------------------------------------------------------------------------


def test_inline_base64() -> None:
    src = BundleSources(max_bytes=LIMIT)
    value = base64.b64encode(BUNDLE).decode()
    folded = "\n".join(value[i : i + 20] for i in range(0, len(value), 20))
    for annotation in (value, folded):
        got = src.fetch({"mlgate.io/signature": annotation}, "signature")
        assert (got.present, got.source, got.data, got.error) == (True, "inline", BUNDLE, None)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "mlgate.io/attestation is empty"),
        ("not base64!!", "mlgate.io/attestation is not valid base64"),
        ("QUJ", "mlgate.io/attestation is not valid base64"),
        ("A" * (LIMIT * 2), f"mlgate.io/attestation is larger than {LIMIT} bytes"),
    ],
)
def test_inline_errors(value: str, error: str) -> None:
    got = BundleSources(max_bytes=LIMIT).fetch({"mlgate.io/attestation": value}, "attestation")
    assert got.present and got.data is None and got.error == error


def test_absent_and_ambiguous() -> None:
    src = BundleSources()
    got = src.fetch({"other": "x"}, "signature")
    assert not got.present and got.source == "none"
    assert got.error == "unsigned: no mlgate.io/signature or mlgate.io/signature-ref annotation"
    got = src.fetch(
        {"mlgate.io/signature": "e30=", "mlgate.io/signature-ref": "a.sig"}, "signature"
    )
    assert got.error == "both mlgate.io/signature and mlgate.io/signature-ref are set; use one"


# --- store ---------------------------------------------------------------------------------


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "models").mkdir(parents=True)
    (root / "models" / "m.sig").write_bytes(BUNDLE)
    (root / "big.sig").write_bytes(b"x" * (LIMIT + 1))
    (tmp_path / "secret.txt").write_text("secret")
    (root / "escape.sig").symlink_to(tmp_path / "secret.txt")
    return root


def test_store_reference(store: Path) -> None:
    got = BundleSources(store, max_bytes=LIMIT).fetch(ref("signature", "models/m.sig"), "signature")
    assert (got.source, got.data, got.error, got.ref) == ("store", BUNDLE, None, "models/m.sig")


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("../secret.txt", "invalid store reference"),
        ("models/../../secret.txt", "invalid store reference"),
        ("/etc/passwd", "invalid store reference"),
        ("file:///etc/passwd", "invalid store reference"),
        ("models\\..\\..\\secret.txt", "invalid store reference"),
        ("models/./m.sig", "invalid store reference"),
        ("models//m.sig", "invalid store reference"),
        ("escape.sig", "store reference 'escape.sig' leaves the store"),
        ("models", "store reference 'models' is not a file"),
        ("nope.sig", "no bundle 'nope.sig' in the signature store"),
        ("big.sig", f"bundle too large: {LIMIT + 1} bytes (limit {LIMIT})"),
    ],
)
def test_store_refusals(store: Path, value: str, error: str) -> None:
    got = BundleSources(store, max_bytes=LIMIT).fetch(ref("signature", value), "signature")
    assert got.present and got.data is None and got.error.startswith(error), got.error


def test_store_not_configured() -> None:
    got = BundleSources(None).fetch(ref("attestation", "a.sig"), "attestation")
    assert got.error == "no signature store is configured"


# --- HTTP ----------------------------------------------------------------------------------


def test_http_ok_and_cached(stub: HTTPStub, server: str) -> None:
    src = BundleSources(None, [f"{server}/bundles/"], max_bytes=LIMIT, timeout=1)
    stub.hits.clear()
    for _ in range(3):
        got = src.fetch(ref("signature", f"{server}/bundles/ok.sig"), "signature")
        assert (got.source, got.data, got.error) == ("http", BUNDLE, None)
    assert stub.hits["/bundles/ok.sig"] == 1  # the two repeats came from the cache
    src.close()


@pytest.mark.parametrize(
    "path",
    [
        "/other/ok.sig",  # outside the prefix
        "/bundlesX/ok.sig",  # prefix boundary
        "/bundles/../secret",
        "/bundles/%2e%2e/secret",
        "/bundles/ok.sig#frag",
    ],
)
def test_http_allow_list(
    stub: HTTPStub, http_sources: BundleSources, server: str, path: str
) -> None:
    got = http_sources.fetch(ref("signature", server + path), "signature")
    assert got.data is None and "is not under an allowed prefix" in got.error
    assert sum(stub.hits.values()) == 0  # refused without a request


def test_http_allow_list_host_and_userinfo(http_sources: BundleSources, server: str) -> None:
    port = server.rsplit(":", 1)[1]
    for url in (
        f"http://localhost:{port}/bundles/ok.sig",  # another host name
        f"https://127.0.0.1:{port}/bundles/ok.sig",  # another scheme
        f"http://user:pw@127.0.0.1:{port}/bundles/ok.sig",
    ):
        assert (
            "not under an allowed prefix"
            in http_sources.fetch(ref("signature", url), "signature").error
        )
    assert BundleSources().fetch(ref("signature", f"{server}/bundles/ok.sig"), "signature").error


@pytest.mark.parametrize(
    ("path", "error", "requests"),
    [
        ("/bundles/big.sig", f"bundle too large: {LIMIT + 1} bytes (limit {LIMIT})", 1),
        ("/bundles/sneaky.sig", f"bundle too large: over {LIMIT} bytes", 1),
        ("/bundles/missing.sig", "returned HTTP 404", 1),
        ("/bundles/down.sig", "returned HTTP 500", 1),
        ("/bundles/moved.sig", "returned HTTP 302", 1),  # redirects are not followed
    ],
)
def test_http_errors(
    stub: HTTPStub, http_sources: BundleSources, server: str, path: str, error: str, requests: int
) -> None:
    got = http_sources.fetch(ref("attestation", server + path), "attestation")
    assert got.present and got.source == "http" and got.data is None
    assert error in got.error
    assert stub.hits[path] == requests


def test_http_timeout_is_bounded(stub: HTTPStub, http_sources: BundleSources, server: str) -> None:
    start = time.monotonic()
    got = http_sources.fetch(ref("signature", f"{server}/bundles/slow.sig"), "signature")
    elapsed = time.monotonic() - start
    assert "timed out after 0.3 s" in got.error
    # The stub answers after 3 s: finishing well before that shows the 0.3 s timeout cut the
    # call, with room for a loaded CI worker; the hit count shows it was not retried.
    assert elapsed < 2.0
    assert stub.hits["/bundles/slow.sig"] == 1


def test_http_retries_once(stub: HTTPStub, http_sources: BundleSources, server: str) -> None:
    STORE.flaky_left = 1
    got = http_sources.fetch(ref("signature", f"{server}/bundles/flaky.sig"), "signature")
    assert got.data == BUNDLE and stub.hits["/bundles/flaky.sig"] == 2
    STORE.flaky_left = 5
    got = http_sources.fetch(ref("signature", f"{server}/bundles/flaky.sig"), "signature")
    assert "HTTP 503" in got.error and stub.hits["/bundles/flaky.sig"] == 4
    STORE.flaky_left = 0


def test_http_connection_refused_and_circuit_breaker(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/bundles/x.sig"
    src = BundleSources(None, [f"http://127.0.0.1:{port}/bundles/"], timeout=0.5)
    for _ in range(sources_mod.BREAKER_THRESHOLD):
        assert "failed: ConnectError" in src.fetch(ref("signature", url), "signature").error
    got = src.fetch(ref("signature", url), "signature")
    assert "failed repeatedly; not retried for" in got.error
    src.close()
