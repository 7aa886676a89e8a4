"""Webhook load test over TLS on loopback (DESIGN.md 7: p99 <= 10 ms at 300 rps, 0 errors at 600).

Starts ``mlgate serve`` (TLS, decision log on, fsync per commit) on 127.0.0.1 unless ``--url``
is given, then sends AdmissionReviews at a fixed rate (open loop: a request's latency counts
from when it was *due*, so a stalled server cannot hide behind a slowed-down client). The
client is a minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop), much cheaper per
request than httpx: it shares the machine's 2 cores with the server, so every client cycle is
taken from the server. The mix is what a cluster sends: model-bearing objects that are
evaluated (InferenceService, Seldon Model, vLLM Deployment) and plain Pods that are not.

With ``--client vegeta`` the load comes from vegeta (github.com/tsenart/vegeta, built by
``make vegeta`` into $MLGATE_CACHE/bin, pinned): a real constant-rate generator in Go, also
open loop, which measures each request from when it was due. Its JSON report gives the
percentiles; the response bodies give the allowed/denied split. ``--sweep`` raises the rate
until p99 passes 100 ms or requests fail: the last rate under it is the sizing figure. The
server's peak RSS (VmHWM of its process tree) is reported after each rate.

The mix (both clients): InferenceService, Seldon Model, vLLM Deployment and a Pod; with
``--signed`` also the signed and attested credit-scorer InferenceService of examples/k8s.

Usage: python bench/bench_webhook.py [--quick] [--rates 300,600] [--duration 10] [--workers 1]
       python bench/bench_webhook.py --client vegeta --signed --rates 100,300,600 --duration 30
       python bench/bench_webhook.py --client vegeta --signed --sweep 600,800,1000,1200
Output: JSON lines, one per rate, latencies in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit

REPO = Path(__file__).resolve().parents[1]


def review(uid: str, obj: dict[str, Any], *, operation: str = "CREATE") -> bytes:
    api_version = obj["apiVersion"]
    group, _, version = api_version.rpartition("/")
    doc = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": obj["kind"].lower() + "s"},
            "operation": operation,
            "namespace": obj["metadata"].get("namespace", ""),
            "name": obj["metadata"]["name"],
            "userInfo": {"username": "alice@example.com", "groups": ["ml-deployers"]},
            "object": obj,
            "dryRun": False,
        },
    }
    return json.dumps(doc).encode()


def objects() -> list[dict[str, Any]]:
    digest = "sha256:" + "ab" * 32
    meta = {"namespace": "ml-prod", "annotations": {"mlgate.io/model-digest": digest}}
    return [
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "fraud-detector", **meta},
            "spec": {
                "predictor": {
                    "model": {
                        "modelFormat": {"name": "sklearn"},
                        "storageUri": "s3://models/fraud-detector/v3",
                    }
                }
            },
        },
        {
            "apiVersion": "mlops.seldon.io/v1alpha1",
            "kind": "Model",
            "metadata": {"name": "credit-scorer", **meta},
            "spec": {"storageUri": "gs://models/credit-scorer/v7", "requirements": ["sklearn"]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "llm", **meta},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "llm"}},
                "template": {
                    "metadata": {"labels": {"app": "llm"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "vllm",
                                "image": "vllm/vllm-openai@sha256:" + "cd" * 32,
                                "args": ["--model", "hf://acme/llm:" + "1" * 40, "--port", "8000"],
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "ml-prod"},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    ]


def signed_objects() -> list[dict[str, Any]]:
    """The signed, attested credit scorer of examples/k8s (allowed in production)."""
    import yaml

    path = REPO / "examples" / "k8s" / "credit-scorer-isvc.yaml"
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def vegeta_binary() -> str:
    cache = Path(os.environ.get("MLGATE_CACHE") or Path.home() / ".cache" / "mlgate")
    found = cache / "bin" / "vegeta"
    if not found.is_file():
        raise SystemExit(f"vegeta not found at {found}: run `make vegeta`")
    return str(found)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (uvicorn's worker processes with ``--workers N``)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in found:
            continue
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        found.append(p)
    return found


def process_tree_hwm_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) summed over a process and its descendants, in MiB."""
    total, seen = 0, False
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        seen = True
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return round(total / 1024, 1) if seen else None


def process_tree_cpu_s(pid: int) -> float | None:
    """CPU time (user + system, all threads) a process and its live descendants have used."""
    total, seen = 0, False
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seen = True
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK") if seen else None


def run_vegeta(
    url: str,
    ca: str | None,
    rate: int,
    duration: float,
    timeout: float,
    mix: list[bytes],
    tmp: Path,
) -> dict[str, Any]:
    vegeta = vegeta_binary()
    targets = tmp / "targets.jsonl"
    with targets.open("w") as out:
        for body in mix:
            target = {
                "method": "POST",
                "url": url,
                "body": base64.b64encode(body).decode(),
                "header": {"Content-Type": ["application/json"]},
            }
            out.write(json.dumps(target) + "\n")
    results = tmp / f"results-{rate}.bin"
    attack = [
        vegeta, "attack", "-format=json", f"-targets={targets}", f"-rate={rate}/s",
        f"-duration={duration}s", f"-timeout={timeout}s", "-keepalive=true",
        f"-output={results}",
    ]  # fmt: skip
    if ca:
        attack.append(f"-root-certs={ca}")
    # The attack is the only child reaped during this call: its CPU is the load generator's.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(attack, check=True, timeout=duration + timeout + 60)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu_s = used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime
    report = json.loads(
        subprocess.run(
            [vegeta, "report", "-type=json", str(results)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    encoded = subprocess.run(
        [vegeta, "encode", "--to=json", str(results)], check=True, capture_output=True, text=True
    ).stdout
    allowed = denied = 0
    for line in encoded.splitlines():
        body = json.loads(line).get("body") or ""
        try:
            answer = json.loads(base64.b64decode(body))["response"]["allowed"]
        except (ValueError, KeyError, TypeError):
            continue
        allowed += answer is True
        denied += answer is False
    lat = report["latencies"]
    ok = report["status_codes"].get("200", 0)
    return {
        "bench": "webhook",
        "client": "vegeta",
        "rate": rate,
        "duration_s": duration,
        "requests": report["requests"],
        "ok": ok,
        "errors": report["requests"] - ok,
        "error_kinds": report.get("errors") or [],
        "allowed": allowed,
        "denied": denied,
        "achieved_rps": round(report["throughput"], 1),
        "p50_ms": round(lat["50th"] / 1e6, 3),
        "p90_ms": round(lat["90th"] / 1e6, 3),
        "p99_ms": round(lat["99th"] / 1e6, 3),
        "max_ms": round(lat["max"] / 1e6, 3),
        "client_cpu_s": round(client_cpu_s, 3),
    }


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time (as the API server does)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + body)
        status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)


class Pool:
    """At most ``size`` connections, like an API server's per-webhook client.

    Without a bound, a slow moment makes the client open new connections (TLS handshakes
    cost the server far more than requests), which only makes the server slower.
    """

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext | None, size: int) -> None:
        self.host, self.port, self.ctx, self.size = host, port, ctx, size
        self.idle: list[Connection] = []
        self.opened = 0
        self.slots = asyncio.Semaphore(size)

    async def get(self) -> Connection:
        if self.idle:
            return self.idle.pop()
        self.opened += 1
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.ctx, server_hostname=self.host if self.ctx else None
        )
        return Connection(reader, writer)

    def put(self, conn: Connection) -> None:
        self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()


async def run_rate(
    url: str,
    ca: str | None,
    rate: int,
    duration: float,
    timeout: float,
    connections: int = 32,
    mix: list[bytes] | None = None,
) -> dict[str, Any]:
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 443
    ctx = ssl.create_default_context(cafile=ca) if parsed.scheme == "https" else None
    pool = Pool(host, port, ctx, size=connections)
    bodies = mix or [review(f"bench-{i}", obj) for i, obj in enumerate(objects())]
    path = parsed.path or "/validate"

    def head(body: bytes) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()

    heads = [head(b) for b in bodies]
    total = int(rate * duration)
    latencies: list[float] = []
    service: list[float] = []
    errors: dict[str, int] = {}
    statuses = {"allowed": 0, "denied": 0}

    async def one(i: int, due: float) -> None:
        k = i % len(bodies)
        conn = None
        await pool.slots.acquire()
        try:
            conn = await pool.get()
            sent = time.perf_counter()
            status, body = await asyncio.wait_for(conn.post(heads[k], bodies[k]), timeout)
            done = time.perf_counter()
            if status != 200:
                errors[f"http {status}"] = errors.get(f"http {status}", 0) + 1
                conn.writer.close()
                return
            response = json.loads(body)["response"]
            statuses["allowed" if response["allowed"] else "denied"] += 1
            latencies.append(done - due)
            service.append(done - sent)
            pool.put(conn)
        except Exception as err:  # counted, not raised: the run goes on
            key = type(err).__name__
            errors[key] = errors.get(key, 0) + 1
            if conn is not None:
                conn.writer.close()
        finally:
            pool.slots.release()

    # Warm the connections (handshakes are not what is being measured; the API server
    # keeps its connections open).
    warm = [await pool.get() for _ in range(8)]
    for conn in warm:
        await conn.post(heads[0], bodies[0])
        pool.put(conn)

    tasks = []
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.wait(tasks, timeout=timeout + 5)
    elapsed = time.perf_counter() - start
    pool.close()

    def pct(samples: list[float], q: float) -> float | None:
        if not samples:
            return None
        ordered = sorted(samples)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "bench": "webhook",
        "rate": rate,
        "duration_s": duration,
        "requests": total,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "allowed": statuses["allowed"],
        "denied": statuses["denied"],
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(latencies, 0.50),
        "p90_ms": pct(latencies, 0.90),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": pct(latencies, 1.0),
        "service_p99_ms": pct(service, 0.99),
        "connections": pool.opened,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(workdir: Path, workers: int, policies: Path | None, extra: list[str]):
    mlgate = [sys.executable, "-m", "mlgate.cli.main"]
    certs = workdir / "certs"
    subprocess.run([*mlgate, "certs", "--out", str(certs)], check=True, capture_output=True)
    port = free_port()
    cmd = [
        *mlgate, "serve", "--host", "127.0.0.1", "--port", str(port),
        "--cert", str(certs / "tls.crt"), "--key", str(certs / "tls.key"),
        "--audit-db", str(workdir / "audit.db"), "--workers", str(workers),
        "--log-level", "warning", *extra,
    ]  # fmt: skip
    if policies is not None:
        cmd += ["--policies", str(policies)]
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {(workdir / 'server.log').read_text()[-2000:]}")
            try:
                import http.client

                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("server did not become ready within 60 s")
        yield url + "/validate", str(certs / "ca.crt"), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per rate")
    parser.add_argument("--rates", default="300,600")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--policies", type=Path, default=None)
    parser.add_argument("--url", help="an already running webhook (https://host:port/validate)")
    parser.add_argument("--ca", help="CA for --url")
    parser.add_argument("--timeout", type=float, default=5.0, help="per request (s)")
    parser.add_argument("--connections", type=int, default=32, help="client connection limit")
    parser.add_argument("--client", choices=("asyncio", "vegeta"), default="asyncio")
    parser.add_argument("--signed", action="store_true", help="add the signed credit scorer")
    parser.add_argument(
        "--sweep", default="", help="rates to climb until p99 > 100 ms or errors (sizing)"
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra `mlgate serve` flag"
    )
    args = parser.parse_args()
    duration = 2.0 if args.quick else args.duration
    rates = [int(r) for r in args.rates.split(",") if r]
    sweep = [int(r) for r in args.sweep.split(",") if r]
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    mix_objects = objects() + (signed_objects() if args.signed else [])
    mix = [review(f"bench-{i}", obj) for i, obj in enumerate(mix_objects)]

    def one(url: str, ca: str | None, rate: int, pid: int | None, tmp: Path) -> dict[str, Any]:
        cpu_before = process_tree_cpu_s(pid) if pid is not None else None
        if args.client == "vegeta":
            result = run_vegeta(url, ca, rate, duration, args.timeout, mix, tmp)
        else:
            result = asyncio.run(
                run_rate(url, ca, rate, duration, args.timeout, args.connections, mix)
            )
            result["client"] = "asyncio-http1"
        result.update(workers=args.workers, cpus=os.cpu_count(), mix=len(mix))
        if pid is not None:
            result["server_peak_rss_mb"] = process_tree_hwm_mb(pid)
            cpu_after = process_tree_cpu_s(pid)
            if cpu_before is not None and cpu_after is not None and result["requests"]:
                result["server_cpu_ms_per_request"] = round(
                    (cpu_after - cpu_before) * 1000 / result["requests"], 3
                )
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
        emit(result)
        return result

    def run_all(url: str, ca: str | None, pid: int | None, tmp: Path) -> None:
        for rate in rates:
            one(url, ca, rate, pid, tmp)
        best = None
        for rate in sweep:
            result = one(url, ca, rate, pid, tmp)
            if result["errors"] or result["p99_ms"] is None or result["p99_ms"] > 100:
                break
            best = rate
        if sweep:
            emit({"bench": "webhook", "sizing_rate_p99_under_100ms": best, "swept": sweep})

    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
        if args.url:
            run_all(args.url, args.ca, None, Path(tmp))
            return
        with server(Path(tmp), args.workers, args.policies, args.server_arg) as (url, ca, pid):
            run_all(url, ca, pid, Path(tmp))


if __name__ == "__main__":
    main()
