"""Bundle sources: inline annotations, the store directory, and HTTP behind an allow-list.

The HTTP tests run a real server on 127.0.0.1 (stdlib http.server in a thread).
"""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.supplychain import sources as sources_mod
from mlgate.supplychain.sources import BundleSources

BUNDLE = b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}'
LIMIT = 4096


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: Counter[str] = Counter()
    flaky_left = 0

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        type(self).hits[self.path] += 1
        if self.path == "/bundles/ok.sig":
            self._send(200, BUNDLE)
        elif self.path == "/bundles/big.sig":
            self._send(200, b"x" * (LIMIT + 1))
        elif self.path == "/bundles/sneaky.sig":  # lies about its length by not saying it
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * (LIMIT * 4))
            self.close_connection = True
        elif self.path == "/bundles/slow.sig":
            time.sleep(1.0)
            self._send(200, BUNDLE)
        elif self.path == "/bundles/flaky.sig":
            if type(self).flaky_left > 0:
                type(self).flaky_left -= 1
                self._send(503, b"busy")
            else:
                self._send(200, BUNDLE)
        elif self.path == "/bundles/down.sig":
            self._send(500, b"down")
        elif self.path == "/bundles/moved.sig":
            self.send_response(302)
            self.send_header("Location", "/bundles/ok.sig")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def http_sources(server: str) -> Iterator[BundleSources]:
    _Handler.hits.clear()
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


def test_http_ok_and_cached(server: str) -> None:
    src = BundleSources(None, [f"{server}/bundles/"], max_bytes=LIMIT, timeout=1)
    _Handler.hits.clear()
    for _ in range(3):
        got = src.fetch(ref("signature", f"{server}/bundles/ok.sig"), "signature")
        assert (got.source, got.data, got.error) == ("http", BUNDLE, None)
    assert _Handler.hits["/bundles/ok.sig"] == 1  # the two repeats came from the cache
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
def test_http_allow_list(http_sources: BundleSources, server: str, path: str) -> None:
    got = http_sources.fetch(ref("signature", server + path), "signature")
    assert got.data is None and "is not under an allowed prefix" in got.error
    assert sum(_Handler.hits.values()) == 0  # refused without a request


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
    http_sources: BundleSources, server: str, path: str, error: str, requests: int
) -> None:
    got = http_sources.fetch(ref("attestation", server + path), "attestation")
    assert got.present and got.source == "http" and got.data is None
    assert error in got.error
    assert _Handler.hits[path] == requests


def test_http_timeout_is_bounded(http_sources: BundleSources, server: str) -> None:
    start = time.monotonic()
    got = http_sources.fetch(ref("signature", f"{server}/bundles/slow.sig"), "signature")
    elapsed = time.monotonic() - start
    assert "timed out after 0.3 s" in got.error
    assert elapsed < 0.9  # one attempt: a timeout is not retried
    assert _Handler.hits["/bundles/slow.sig"] == 1


def test_http_retries_once(http_sources: BundleSources, server: str) -> None:
    _Handler.flaky_left = 1
    got = http_sources.fetch(ref("signature", f"{server}/bundles/flaky.sig"), "signature")
    assert got.data == BUNDLE and _Handler.hits["/bundles/flaky.sig"] == 2
    _Handler.flaky_left = 5
    got = http_sources.fetch(ref("signature", f"{server}/bundles/flaky.sig"), "signature")
    assert "HTTP 503" in got.error and _Handler.hits["/bundles/flaky.sig"] == 4
    _Handler.flaky_left = 0


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
