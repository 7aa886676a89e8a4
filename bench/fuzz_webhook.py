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
    python bench/fuzz_webhook.py --replay build/fuzz    # the saved slow or missed reviews

Prints one JSON line (bench/_common.emit) with the counts; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import platform
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

from _common import emit, thread_files  # noqa: E402
from webhook_support import (  # noqa: E402
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
KEEP_S, KEEP_MAX = 1.0, 300  # bodies of requests slower than KEEP_S are saved (at most KEEP_MAX)


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


def _judged_as(doc: dict[str, Any]) -> tuple[str, str, str, tuple[str, ...]]:
    """What a fresh `mlgate check` must be told to judge this review as the webhook did."""
    request = doc["request"]
    user = request.get("userInfo") or {}
    return (
        str(request.get("namespace", "")),
        str(request.get("operation", "CREATE")),
        str(user.get("username", "")),
        tuple(str(g) for g in user.get("groups") or ()),
    )


def decision_records(db: Path) -> dict[str, list[dict[str, Any]]]:
    """The server's decision records by request uid (a uid sent twice has two)."""
    import sqlite3

    out: dict[str, list[dict[str, Any]]] = {}
    with sqlite3.connect(db) as conn:
        for (body,) in conn.execute("SELECT body FROM records WHERE type = 'decision'"):
            record = json.loads(body)
            out.setdefault(str(record.get("uid", "")), []).append(record)
    return out


def check_denials(
    admitted: list[dict[str, Any]],
    workdir: Path,
    records: dict[str, list[dict[str, Any]]],
    save: Path,
) -> tuple[int, list[dict[str, Any]]]:
    """(objects checked, misses) for the admitted CREATE/UPDATE reviews, each re-checked as
    the review the server parsed (after byte damage), for its own namespace, operation and
    user. A miss names the review's uid, what the server recorded for it and the control
    `mlgate check` denies; the review itself is saved under ``save`` for replay."""
    import yaml

    groups: dict[tuple[str, str, str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for doc in admitted:
        groups.setdefault(_judged_as(doc), []).append(doc)
    checked = 0
    misses: list[dict[str, Any]] = []
    # `mlgate check` refuses files over 16 MiB: a few hundred objects per file.
    chunks = [
        (judged, docs[i : i + CHECK_CHUNK])
        for judged, docs in groups.items()
        for i in range(0, len(docs), CHECK_CHUNK)
    ]
    for n, ((namespace, operation, username, user_groups), docs) in enumerate(chunks):
        path = workdir / f"admitted-{n}.yaml"
        objs = [doc["request"]["object"] for doc in docs]
        path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
        argv = [*MLGATE, "check", str(path), "--output", "json", "--operation", operation, "--user", username]  # fmt: skip
        for group in user_groups:
            argv += ["--group", group]
        for key, value in NAMESPACES.get(namespace, {}).items():
            argv += ["--namespace-label", f"{key}={value}"]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        if run.returncode == 2 and "no model-bearing objects" in run.stderr:
            checked += len(objs)  # nothing for check to deny: the webhook had nothing either
            continue
        if run.returncode not in (0, 1):
            print(f"mlgate check failed ({run.returncode}): {run.stderr[-2000:]}", file=sys.stderr)
            misses += [
                {"uid": d["request"].get("uid"), "check_failed": run.returncode} for d in docs
            ]
            continue
        checked += len(objs)
        for result in json.loads(run.stdout)["results"]:
            if result["decision"]["allowed"]:
                continue
            # The uid: the admitted review(s) of this chunk with the denied object's kind and
            # name (a name may repeat in a chunk; each candidate is reported).
            for doc in docs:
                obj = doc["request"]["object"]
                meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
                if obj.get("kind") == result["kind"] and meta.get("name") == result["name"]:
                    misses.append(_explain_miss(doc, result, records, save))
    return checked, misses


def _explain_miss(
    doc: dict[str, Any],
    result: dict[str, Any],
    records: dict[str, list[dict[str, Any]]],
    save: Path,
) -> dict[str, Any]:
    uid = str(doc["request"].get("uid", ""))
    save.mkdir(parents=True, exist_ok=True)
    (save / f"miss-{uid}.json").write_text(json.dumps(doc, ensure_ascii=True))
    server = [
        {k: r.get(k) for k in ("decision_id", "allowed", "controls", "evaluated", "error")}
        for r in records.get(uid, [])
    ]
    return {
        "uid": uid,
        "kind": result["kind"],
        "name": result["name"],
        "namespace": doc["request"].get("namespace"),
        "operation": doc["request"].get("operation"),
        "check_denies": sorted({v["control"] for v in result["decision"]["violations"]}),
        "server_records": server,  # [] : admitted without a record (nothing to evaluate)
        "saved": str(save / f"miss-{uid}.json"),
    }


STALL_HISTOGRAMS = (
    "mlgate_memory_release_duration_seconds",
    "mlgate_audit_commit_duration_seconds",
)


def histogram_summary(metrics_text: str) -> dict[str, dict[str, float]]:
    """count, sum and the count over 100 ms of the server's histograms of work that can stall
    requests (the memory releaser, the decision-log commit), from its /metrics text."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in STALL_HISTOGRAMS:
            continue
        values = {"count": 0.0, "sum": 0.0, "le_0.1": 0.0}
        for sample in family.samples:
            if sample.name.endswith("_count"):
                values["count"] = sample.value
            elif sample.name.endswith("_sum"):
                values["sum"] = round(sample.value, 3)
            elif sample.name.endswith("_bucket") and sample.labels.get("le") == "0.1":
                values["le_0.1"] = sample.value
        values["over_100ms"] = values["count"] - values.pop("le_0.1")
        out[family.name] = values
    return out


def schedstat_s(pid: int) -> dict[str, float]:
    """Seconds the server's threads ran, and waited runnable for a CPU (/proc schedstat):
    a server starved by the machine waits far longer than it runs; a stalled one does
    neither."""
    ran = waited = 0
    for text in thread_files(pid, "schedstat").values():
        on_cpu, on_queue, _ = text.split()
        ran, waited = ran + int(on_cpu), waited + int(on_queue)
    return {"cpu_s": round(ran / 1e9, 1), "runqueue_wait_s": round(waited / 1e9, 1)}


def latency_summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": round(ordered[-1], 3)}


def explain_stalls(
    records: dict[str, list[dict[str, Any]]],
    items: list[tuple[str, str, float, int]],
    bodies: dict[str, bytes],
    save: Path,
) -> dict[str, Any]:
    """For each failed or slow request: did the server decide it, and how long did its
    handler take (``duration_ms`` in the record)? A request the handler finished quickly but
    the client waited long for was delayed outside the handler (CPU starvation, transport);
    a handler that took long, or no record at all, points at the server. The slowest
    handlers of the whole run are listed too, and the bodies of slow requests are saved under
    ``save`` so that `--replay` can send them again, one at a time."""
    last = {uid: rows[-1] for uid, rows in records.items()}
    durations: dict[str, float | None] = {uid: r.get("duration_ms") for uid, r in last.items()}
    details = {
        uid: {
            "stages_ms": r.get("stages_ms"),  # queued / evaluating, pool decisions only
            "controls": r.get("controls"),
            "kind": r.get("kind"),
        }
        for uid, r in last.items()
    }
    rows = []
    for uid, error, seconds, size in items:
        rows.append({
            "uid": uid, "error": error, "client_s": round(seconds, 3), "body_bytes": size,
            "recorded": uid in durations, "handler_ms": durations.get(uid),
        })  # fmt: skip
    handler = [r["handler_ms"] for r in rows if r["handler_ms"] is not None]
    slowest = sorted(((ms, uid) for uid, ms in durations.items() if ms is not None), reverse=True)[
        :10
    ]
    if bodies:
        save.mkdir(parents=True, exist_ok=True)
        for uid, body in bodies.items():
            (save / f"slow-{uid}.json").write_bytes(body)
    return {
        "count": len(rows),
        "recorded": sum(r["recorded"] for r in rows),
        "handler_ms_max": max(handler) if handler else None,
        "examples": rows[:10],
        "slowest_handlers": [
            {"uid": uid, "handler_ms": ms, "saved": uid in bodies, **details[uid]}
            for ms, uid in slowest
        ],
        "saved_bodies": str(save) if bodies else None,
    }


def replay(directory: Path) -> int:
    """Send each saved body to a fresh, otherwise idle server, one at a time, and report
    the client latency and the handler time the server recorded."""
    work = Path(tempfile.mkdtemp(prefix="mlgate-fuzz-replay-"))
    server = Server(work / "server", issue_certs(work / "certs")).start(timeout=600)
    results = []
    try:
        client = server.client(timeout=120)
        for path in sorted(directory.glob("*.json")):
            body = path.read_bytes()
            started = time.monotonic()
            r = client.post("/validate", content=body, headers={"content-type": "application/json"})
            results.append({"file": path.name, "bytes": len(body), "status": r.status_code,
                            "allowed": r.json().get("response", {}).get("allowed")
                            if r.status_code == 200 else None,
                            "client_ms": round((time.monotonic() - started) * 1000, 1)})  # fmt: skip
    finally:
        server.stop()
    handler = {
        uid: rows[-1].get("duration_ms") for uid, rows in decision_records(server.audit_db).items()
    }
    for result in results:
        try:
            uid = json.loads((directory / result["file"]).read_bytes())["request"]["uid"]
        except (ValueError, KeyError, TypeError):  # a body damaged past parsing
            uid = None
        result["handler_ms"] = handler.get(uid)
        emit({"bench": "fuzz_webhook_replay", **result})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--max-rss-growth-mb", type=float, default=60.0)
    parser.add_argument(
        "--max-seconds", type=float, help="stop sending after this long (reports what was sent)"
    )
    parser.add_argument(
        "--save",
        type=Path,
        default=REPO / "build" / "fuzz",
        help="where the reviews of misses and of slow requests are saved (default build/fuzz)",
    )
    parser.add_argument("--out", type=Path, help="also append the JSON line to this file")
    parser.add_argument(
        "--replay", type=Path, metavar="DIR", help="send the saved reviews in DIR again, and stop"
    )
    args = parser.parse_args()
    if args.replay:
        return replay(args.replay)

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
    slow_bodies: dict[str, bytes] = {}  # uid -> body of requests slower than KEEP_S
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
            uid = str(doc["request"].get("uid", ""))
            if elapsed_s > SLOW_S:
                slow.append((uid, "slow", elapsed_s, len(body)))
            if elapsed_s > KEEP_S and len(slow_bodies) < KEEP_MAX:
                slow_bodies[uid] = body
            statuses[str(r.status_code)] += 1
            if r.status_code == 200:
                allowed = r.json()["response"]["allowed"]
                outcomes["allowed" if allowed else "denied"] += 1
                operation = doc["request"].get("operation")
                if allowed and operation in ("CREATE", "UPDATE"):
                    # What the server parsed: the bytes sent, after any byte damage (a flipped
                    # byte in a key can leave valid JSON that reads differently from `doc`).
                    admitted.append(json.loads(body))

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
        stall_work = histogram_summary(server.metrics())
        alive = server.proc.poll() is None
    finally:
        server.stop()
    records = decision_records(server.audit_db)
    checked, misses = check_denials(admitted, work, records, args.save)
    stalls = explain_stalls(records, failed + slow, slow_bodies, args.save)
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
        "admitted_but_check_denies": len(misses),
        "misses": misses[:20],
        "rss_baseline_mb": round(baseline / 1024, 1),
        "rss_peak_mb": round(max([baseline, *rss_samples]) / 1024, 1),
        "rss_after_idle_mb": round(final / 1024, 1),
        # every 10,000 reviews: growth that levels off is bounded caches, not a leak
        "rss_mb_every_10k": [round(kb / 1024, 1) for kb in rss_samples[9::10]],
        "latency_s": latency_summary(latencies),
        "server_threads": scheduling,
        "server_stall_work": stall_work,
        "slow_or_failed": stalls,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(sent / elapsed, 1),
    }
    emit(report)
    if args.out:
        with args.out.open("a") as out:
            out.write(json.dumps({"python": platform.python_version(), **report}, sort_keys=True))
            out.write("\n")
    if errors:
        print("first transport errors:", errors[:5], file=sys.stderr)
    ok = (
        five_xx == 0
        and not errors
        and alive
        and not misses
        and (final - baseline) / 1024 < args.max_rss_growth_mb
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
