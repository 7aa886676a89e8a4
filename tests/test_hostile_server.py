"""A real `mlgate serve` (TLS on 127.0.0.1) under hostile clients: slow and oversized
connections are cut off within seconds, a flood of heavy requests neither delays nor flips
another user's decision, and memory returns to its baseline after the burst."""

from __future__ import annotations

import concurrent.futures
import copy
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from webhook_support import Server, issue_certs, objects, review, signed_annotations

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issue_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, certs: Path):
    srv = Server(
        tmp_path_factory.mktemp("hostile"),
        certs,
        args=[
            *("--header-timeout", "1", "--body-timeout", "1", "--max-header-bytes", "8192"),
            *("--tls-handshake-timeout", "1"),
        ],
    ).start()
    yield srv
    srv.stop()


def _tls(server: Server) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(server.certs / "ca.crt"))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def _closed_within(sock: ssl.SSLSocket, seconds: float) -> tuple[bool, bytes]:
    """Reads until the server closes; (closed in time, what it sent)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    received = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError):
            return True, received
        if not chunk:
            return True, received
        received += chunk
    return False, received


def test_slowloris_connections_are_closed_within_seconds(server: Server) -> None:
    body = json.dumps(review(objects("ml-prod")["InferenceService"])).encode()
    head = (
        b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    socks = []
    for i in range(60):
        s = _tls(server)
        if i % 3 == 0:
            s.sendall(head[:30])  # part of the headers
        elif i % 3 == 1:
            s.sendall(head + body[:50])  # the headers and part of the body
        socks.append(s)  # i % 3 == 2: nothing at all after the handshake
    started = time.monotonic()
    # Meanwhile an honest client is served.
    assert server.validate(review(objects("ml-prod")["InferenceService"])).status_code == 200
    results = [_closed_within(s, 4.0 - (time.monotonic() - started)) for s in socks]
    assert all(closed for closed, _ in results), sum(not c for c, _ in results)
    assert time.monotonic() - started < 4.0
    assert any(b" 408 " in sent for _, sent in results)
    for s in socks:
        s.close()


def _closed_raw(sock: socket.socket, seconds: float) -> bool:
    """Reads (plain TCP) until the server closes; whether it did within ``seconds``."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(4096):
                return True
        except TimeoutError:
            continue
        except ConnectionError:
            return True
    return False


def test_stalled_tls_handshakes_are_dropped_within_seconds(server: Server) -> None:
    """TCP connections that never complete the TLS handshake (nothing sent, or half a
    ClientHello) are closed by the handshake deadline, not after the loop's default 60 s."""
    socks = []
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        if i % 2:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
        socks.append(s)
    started = time.monotonic()
    # Meanwhile an honest client is served.
    assert server.validate(review(objects("ml-prod")["InferenceService"])).status_code == 200
    closed = [_closed_raw(s, 6.0 - (time.monotonic() - started)) for s in socks]
    assert all(closed), f"{closed.count(False)} of {len(socks)} stalled handshakes still open"
    assert time.monotonic() - started < 6.0  # deadline 1 s, plus slack for a loaded machine
    for s in socks:
        s.close()


def test_oversized_headers_are_refused(server: Server) -> None:
    s = _tls(server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
    closed, sent = _closed_within(s, 3)
    assert closed and sent.startswith(b"HTTP/1.1 400")
    s.close()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _heavy_deployment(containers: int) -> dict[str, Any]:
    deployment = copy.deepcopy(objects("ml-prod")["Deployment"])
    spec = deployment["spec"]["template"]["spec"]
    spec["containers"] = [
        dict(spec["containers"][0], name=f"c{i}", args=["--model", f"s3://m/{i}"])
        for i in range(containers)
    ]
    return deployment


def test_a_flood_of_heavy_requests_does_not_flip_or_delay_another_user(server: Server) -> None:
    assert server.proc is not None
    baseline = _rss_kb(server.proc.pid)
    heavy_user = {"username": "mallory", "groups": ["ml-platform-deployers"]}
    floods = [review(_heavy_deployment(2000), user=heavy_user) for _ in range(4)]  # the issue's
    floods += [review(_heavy_deployment(32), user=heavy_user) for _ in range(24)]  # at the limit
    signed = review(objects("ml-staging", signed_annotations())["InferenceService"])

    with server.client(timeout=30) as client, concurrent.futures.ThreadPoolExecutor(12) as pool:
        flood = [pool.submit(client.post, "/validate", json=doc) for doc in floods]
        time.sleep(0.3)
        started = time.monotonic()
        honest = client.post("/validate", json=signed)
        waited = time.monotonic() - started
        answers = [f.result() for f in flood]
    assert all(r.status_code == 200 for r in answers)
    assert not any(r.json()["response"]["allowed"] for r in answers)
    resp = honest.json()["response"]
    assert resp["allowed"] is True, resp
    assert waited < 2.0
    # Memory goes back near its baseline once the burst is over.
    time.sleep(2.5)
    grown_mb = (_rss_kb(server.proc.pid) - baseline) / 1024
    assert grown_mb < 60, f"RSS grew by {grown_mb:.0f} MB after the burst"


def test_strings_that_were_quadratic_to_mask_do_not_stall_another_user(server: Server) -> None:
    # The decision log masks emails in everything it stores. A regular expression retried at
    # every start position is quadratic in a run of local-part characters: a 100,000-character
    # storage URI (any "@" elsewhere, here the signer's identity in the signature's facts)
    # held the GIL for seconds and every other request in flight timed out (found by
    # `make fuzz`).
    hostile = copy.deepcopy(objects("ml-staging", signed_annotations())["Model"])
    hostile["spec"]["storageUri"] = "x" * 100_000
    hostile_user = {"username": "mallory", "groups": ["ml-platform-deployers"]}
    signed = review(objects("ml-staging", signed_annotations())["InferenceService"])
    with server.client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(4) as pool:
        heavy = [pool.submit(client.post, "/validate", json=review(hostile, user=hostile_user))]
        time.sleep(0.2)
        honest, waits = [], []
        while not heavy[0].done() or len(honest) < 5:
            started = time.monotonic()
            honest.append(client.post("/validate", json=signed))
            waits.append(time.monotonic() - started)
        heavy_answer = heavy[0].result()
    assert heavy_answer.status_code == 200
    assert heavy_answer.json()["response"]["allowed"] is False
    for answer in honest:
        resp = answer.json()["response"]
        assert resp["allowed"] is True, resp  # not an MLGATE-EVAL-ERROR deadline denial
    # The API server gives up after the webhook's timeoutSeconds (5 s shipped), and then
    # fails the honest deployment closed: no answer may wait on another user's strings.
    assert max(waits) < 2.0, waits


def test_honest_traffic_still_works_after_the_hostile_tests(server: Server) -> None:
    with server.client() as c:
        assert c.get("/readyz").status_code == 200


def test_uvicorn_still_lacks_request_timeouts() -> None:
    """mlgate._internal.uvicorn_protocol exists because uvicorn has only these timeouts."""
    import inspect

    import uvicorn

    timeouts = {p for p in inspect.signature(uvicorn.Config).parameters if "timeout" in p}
    assert timeouts <= {
        "timeout_keep_alive", "timeout_notify", "timeout_graceful_shutdown",
        "timeout_worker_healthcheck", "ws_ping_timeout",
    }, f"new uvicorn timeout settings: {sorted(timeouts)}"  # fmt: skip
