"""`make fuzz`: generated and mutated AdmissionReviews against a real `mlgate serve` over TLS.

Targets (issue 12): 0 responses of 5xx, 0 crashes (the server process stays up, every request
gets an answer), 0 admissions of an object that a fresh `mlgate check` denies, flat memory.

Each review starts from a real object (every kind the tests build, signed and unsigned, in
production, staging and development namespaces) and gets one to three mutations: hostile
values at random paths (huge and negative numbers, NUL, escapes, long strings, wrong types),
deleted keys, multiplied containers, annotations copied from another object, a different
kind or operation, a kind that disagrees with request.kind; one in ten is also damaged at
the byte level (cut, flipped, duplicate key, 5,000-digit number, lone surrogate).

    python bench/fuzz_webhook.py [--count 100000] [--seed 12] [--workers 8] [--out FILE]

Prints one JSON line (bench/_common.emit) with the counts; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from _common import emit  # noqa: E402
from webhook_support import (  # noqa: E402
    DEPLOYER,
    MLGATE,
    NAMESPACES,
    Server,
    issue_certs,
    objects,
    plain_pod,
    review,
    signed_annotations,
)

HOSTILE_VALUES: list[Any] = [
    None, True, 0, -1, 2**63 - 1, -(2**63), 2**64, 1e308, -0.0, "", "\u0000", "\\u0000",
    "a" * 5000, "s3://models/x", "hf://org/model", "oci://reg/m@sha256:" + "b" * 64,
    "--model", "--model=s3://evil/m", "pvc://claim/m", "sha256:" + "0" * 64, "../../etc/passwd",
    [], {}, [[[[[[[[[[]]]]]]]]]], {"a": {"b": {"c": {}}}}, "\u202e\u200b", "x" * 70000,
]  # fmt: skip
NAMESPACE_CHOICES = [*NAMESPACES, "ml-other"]
BYTE_DAMAGE = ["cut", "flip", "dup-key", "big-int", "surrogate"]
CHECK_CHUNK = 300
SLOW_S = 10.0  # a request answered later than this is reported with its server-side time


def seeds() -> list[dict[str, Any]]:
    out = []
    signed = signed_annotations()
    for namespace in NAMESPACES:
        for extra in (None, signed):
            out += list(objects(namespace, extra).values())
        out.append(plain_pod(namespace))
    return out


def _containers(node: Any) -> list[list[Any]]:
    found: list[list[Any]] = []
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "containers" and isinstance(child, list) and child:
                    found.append(child)
                stack.append(child)
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _nodes(node: Any) -> list[Any]:
    out, stack = [], [node]
    while stack:
        value = stack.pop()
        if isinstance(value, (dict, list)):
            out.append(value)
            stack.extend(value.values() if isinstance(value, dict) else value)
    return out


class Mutator:
    def __init__(self, rng: random.Random, pool: list[dict[str, Any]]) -> None:
        self.rng, self.pool = rng, pool

    def review(self) -> tuple[dict[str, Any], bytes]:
        rng = self.rng
        obj = copy.deepcopy(rng.choice(self.pool))
        doc = review(obj)
        for _ in range(rng.randint(1, 3)):
            getattr(self, "m_" + rng.choice(self.MUTATIONS))(doc)
        body = json.dumps(doc, ensure_ascii=True).encode()
        if rng.random() < 0.1:
            body = self.damage(body)
        return doc, body

    MUTATIONS = [
        "value", "value", "value", "delete", "containers", "copy_annotations", "kind",
        "operation", "namespace", "mismatch", "annotations",
    ]  # fmt: skip

    def m_value(self, doc: dict[str, Any]) -> None:
        target = self.rng.choice(_nodes(doc["request"]["object"] or {}) or [{}])
        value = copy.deepcopy(self.rng.choice(HOSTILE_VALUES))
        if isinstance(target, dict) and target:
            target[self.rng.choice(list(target))] = value
        elif isinstance(target, list) and target:
            target[self.rng.randrange(len(target))] = value

    def m_delete(self, doc: dict[str, Any]) -> None:
        dicts = [n for n in _nodes(doc["request"]["object"] or {}) if isinstance(n, dict) and n]
        if dicts:
            target = self.rng.choice(dicts)
            del target[self.rng.choice(list(target))]

    def m_containers(self, doc: dict[str, Any]) -> None:
        lists = _containers(doc["request"]["object"])
        if lists:
            target = self.rng.choice(lists)
            n = self.rng.choice([2, 5, 40, 65, 300])
            target.extend(copy.deepcopy(target[0]) for _ in range(n))

    def m_copy_annotations(self, doc: dict[str, Any]) -> None:
        # Copy another object's (signed) annotations: they must not vouch for this model.
        donor = self.rng.choice(self.pool)
        meta = doc["request"]["object"].setdefault("metadata", {})
        if isinstance(meta, dict):
            meta["annotations"] = copy.deepcopy(donor["metadata"].get("annotations", {}))

    def m_annotations(self, doc: dict[str, Any]) -> None:
        meta = doc["request"]["object"].setdefault("metadata", {})
        if isinstance(meta, dict):
            n = self.rng.choice([3, 50, 200])
            meta["annotations"] = {
                f"k{i}.example.com/a": "v" * self.rng.choice([1, 900]) for i in range(n)
            }

    def m_kind(self, doc: dict[str, Any]) -> None:
        other = self.rng.choice(self.pool)
        obj = doc["request"]["object"]
        obj["kind"], obj["apiVersion"] = other["kind"], other["apiVersion"]
        group, _, version = other["apiVersion"].rpartition("/")
        doc["request"]["kind"] = {"group": group, "version": version, "kind": other["kind"]}

    def m_operation(self, doc: dict[str, Any]) -> None:
        doc["request"]["operation"] = self.rng.choice(["UPDATE", "DELETE", "CONNECT"])

    def m_namespace(self, doc: dict[str, Any]) -> None:
        namespace = self.rng.choice(NAMESPACE_CHOICES)
        doc["request"]["namespace"] = namespace
        meta = doc["request"]["object"].get("metadata")
        if isinstance(meta, dict):
            meta["namespace"] = namespace

    def m_mismatch(self, doc: dict[str, Any]) -> None:
        doc["request"]["kind"]["kind"] = self.rng.choice(["ConfigMap", "Pod", "Namespace"])

    def damage(self, body: bytes) -> bytes:
        rng, data = self.rng, bytearray(body)
        op = rng.choice(BYTE_DAMAGE)
        at = rng.randrange(len(data))
        if op == "cut":
            del data[at : at + rng.randint(1, 50)]
        elif op == "flip":
            data[at] = rng.randrange(256)
        elif op == "dup-key":
            return bytes(data).replace(b'"operation":', b'"operation": "DELETE", "operation":', 1)
        elif op == "big-int":
            return bytes(data).replace(b'"dryRun": false', b'"dryRun": ' + b"9" * 5001, 1)
        else:
            return bytes(data).replace(b'"username": "', b'"username": "\\udc80', 1)
        return bytes(data)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def check_denials(admitted: list[dict[str, Any]], workdir: Path) -> tuple[int, int]:
    """(objects checked, objects `mlgate check` denies) for the admitted CREATE/UPDATE objects."""
    import yaml

    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for doc in admitted:
        by_namespace.setdefault(doc["request"]["namespace"], []).append(doc["request"]["object"])
    checked = denied = 0
    # `mlgate check` refuses files over 16 MiB: a few hundred objects per file.
    chunks = [
        (namespace, objs[i : i + CHECK_CHUNK])
        for namespace, all_objs in by_namespace.items()
        for objs in [all_objs]
        for i in range(0, len(all_objs), CHECK_CHUNK)
    ]
    for n, (namespace, objs) in enumerate(chunks):
        path = workdir / f"admitted-{namespace}-{n}.yaml"
        path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
        argv = [*MLGATE, "check", str(path), "--output", "json", "--user", DEPLOYER["username"]]
        for group in DEPLOYER["groups"]:
            argv += ["--group", group]
        for key, value in NAMESPACES.get(namespace, {}).items():
            argv += ["--namespace-label", f"{key}={value}"]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        if run.returncode == 2 and "no model-bearing objects" in run.stderr:
            checked += len(objs)  # nothing for check to deny: the webhook had nothing either
            continue
        if run.returncode not in (0, 1):
            print(f"mlgate check failed ({run.returncode}): {run.stderr[-2000:]}", file=sys.stderr)
            denied += len(objs)
            continue
        results = json.loads(run.stdout)["results"]
        checked += len(objs)
        bad = [r for r in results if not r["decision"]["allowed"]]
        for r in bad[:5]:
            print(f"ADMITTED BUT DENIED BY CHECK: {namespace} {r['kind']} {r['name']}: "
                  f"{r['decision']['violations'][0]['control']}", file=sys.stderr)  # fmt: skip
        denied += len(bad)
    return checked, denied


def schedstat_s(pid: int) -> dict[str, float]:
    """Seconds the server's threads ran, and waited runnable for a CPU (/proc schedstat):
    a server starved by the machine waits far longer than it runs; a stalled one does
    neither."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            on_cpu, on_queue, _ = (Path(task) / "schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        ran, waited = ran + int(on_cpu), waited + int(on_queue)
    return {"cpu_s": round(ran / 1e9, 1), "runqueue_wait_s": round(waited / 1e9, 1)}


def latency_summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": round(ordered[-1], 3)}


def explain_stalls(db: Path, items: list[tuple[str, str, float, int]]) -> dict[str, Any]:
    """For each failed or slow request: did the server decide it, and how long did its
    handler take (``duration_ms`` in the record)? A request the handler finished quickly but
    the client waited long for was delayed outside the handler (CPU starvation, transport);
    a handler that took long, or no record at all, points at the server."""
    import sqlite3

    if not items:
        return {"count": 0}
    durations: dict[str, float | None] = {}
    with sqlite3.connect(db) as conn:
        for (body,) in conn.execute("SELECT body FROM records WHERE type = 'decision'"):
            record = json.loads(body)
            durations[record.get("uid", "")] = record.get("duration_ms")
    rows = []
    for uid, error, seconds, size in items:
        rows.append({
            "uid": uid, "error": error, "client_s": round(seconds, 3), "body_bytes": size,
            "recorded": uid in durations, "handler_ms": durations.get(uid),
        })  # fmt: skip
    handler = [r["handler_ms"] for r in rows if r["handler_ms"] is not None]
    return {
        "count": len(rows),
        "recorded": sum(r["recorded"] for r in rows),
        "handler_ms_max": max(handler) if handler else None,
        "examples": rows[:10],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-rss-growth-mb", type=float, default=60.0)
    parser.add_argument(
        "--max-seconds", type=float, help="stop sending after this long (reports what was sent)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mlgate-fuzz-"))
    certs = issue_certs(work / "certs")
    server = Server(work / "server", certs).start(timeout=600)
    assert server.proc is not None
    pid = server.proc.pid
    rng = random.Random(args.seed)
    mutator = Mutator(rng, seeds())
    lock = threading.Lock()
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    admitted: list[dict[str, Any]] = []
    errors: list[str] = []
    latencies: list[float] = []
    # (uid, error, seconds, body bytes) of requests that failed or took longer than SLOW_S:
    # looked up in the server's decision log to tell a server stall from a starved client.
    failed: list[tuple[str, str, float, int]] = []
    slow: list[tuple[str, str, float, int]] = []
    rss_samples: list[int] = []
    started = time.monotonic()
    baseline = rss_kb(pid)

    def batches():  # consumed by this thread only
        for _ in range(args.count):
            if args.max_seconds and time.monotonic() - started > args.max_seconds:
                return
            yield mutator.review()

    def send(client, item: tuple[dict[str, Any], bytes]) -> None:
        doc, body = item
        sent_at = time.monotonic()
        try:
            r = client.post("/validate", content=body, headers={"content-type": "application/json"})
        except Exception as err:
            with lock:
                errors.append(f"{type(err).__name__}: {err}")
                failed.append((str(doc["request"].get("uid", "")), type(err).__name__,
                               time.monotonic() - sent_at, len(body)))  # fmt: skip
            return
        elapsed_s = time.monotonic() - sent_at
        with lock:
            latencies.append(elapsed_s)
            if elapsed_s > SLOW_S:
                slow.append((str(doc["request"].get("uid", "")), "slow", elapsed_s, len(body)))
            statuses[str(r.status_code)] += 1
            if r.status_code == 200:
                allowed = r.json()["response"]["allowed"]
                outcomes["allowed" if allowed else "denied"] += 1
                operation = doc["request"].get("operation")
                if allowed and operation in ("CREATE", "UPDATE") and len(admitted) < 20_000:
                    admitted.append(doc)

    local = threading.local()

    def worker(item: tuple[dict[str, Any], bytes]) -> None:
        if not hasattr(local, "client"):
            local.client = server.client(timeout=30)
        send(local.client, item)

    try:
        items = iter(batches())
        with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
            pending: set[concurrent.futures.Future[None]] = set()
            sent = 0
            for sent, item in enumerate(items, 1):
                pending.add(pool.submit(worker, item))
                if len(pending) >= args.workers * 4:
                    _, pending = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                if sent % 1000 == 0:
                    rss_samples.append(rss_kb(pid))
                    print(f"{sent} sent, {dict(statuses)}, rss {rss_samples[-1] // 1024} MB",
                          file=sys.stderr, flush=True)  # fmt: skip
            concurrent.futures.wait(pending)
        elapsed = time.monotonic() - started
        time.sleep(3)  # idle: memory should return to its baseline
        final = rss_kb(pid)
        scheduling = schedstat_s(pid)
        alive = server.proc.poll() is None
        checked, check_denied = check_denials(admitted, work)
    finally:
        server.stop()
    stalls = explain_stalls(server.audit_db, failed + slow)
    five_xx = sum(n for s, n in statuses.items() if s.startswith("5"))
    report = {
        "bench": "fuzz_webhook",
        "command": f"python bench/fuzz_webhook.py --count {args.count} --seed {args.seed}"
        + (f" --max-seconds {args.max_seconds:g}" if args.max_seconds else ""),
        "requests": sent,
        "answered": sum(statuses.values()),
        "status": dict(statuses),
        "decisions": dict(outcomes),
        "responses_5xx": five_xx,
        "transport_errors": len(errors),
        "server_alive": alive,
        "admitted_checked": checked,
        "admitted_but_check_denies": check_denied,
        "rss_baseline_mb": round(baseline / 1024, 1),
        "rss_peak_mb": round(max([baseline, *rss_samples]) / 1024, 1),
        "rss_after_idle_mb": round(final / 1024, 1),
        "latency_s": latency_summary(latencies),
        "server_threads": scheduling,
        "slow_or_failed": stalls,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(sent / elapsed, 1),
    }
    emit(report)
    if errors:
        print("first transport errors:", errors[:5], file=sys.stderr)
    ok = (
        five_xx == 0
        and not errors
        and alive
        and check_denied == 0
        and (final - baseline) / 1024 < args.max_rss_growth_mb
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
