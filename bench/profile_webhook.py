"""Where the webhook's CPU and GIL time go per request: `mlgate serve` under vegeta, sampled.

Starts the server exactly as ``bench_webhook.py`` does (its ``server()``: TLS on 127.0.0.1,
decision log on, one worker), drives it with vegeta at one constant rate, and meanwhile:

- reads each server thread's CPU time and context switches from ``/proc/<pid>/task/<tid>``
  before and after, and the load generator's CPU from ``wait4``;
- samples every thread of the server with py-spy (a sampling profiler outside the process:
  nothing in mlgate changes for it; ``--nonblocking``, so the server is never paused), and
  with a second py-spy only the thread holding the GIL (``--gil``);
- reads the decision log's group commits (count, records, seconds) from ``/metrics``.

Each thread's measured CPU is split over stages by its own busy samples (a thread waiting
for a lock, a queue, the GIL or a socket is not using CPU). A sample belongs to the innermost
frame on its stack that names a stage (``STAGES``), so JSON encoding inside the decision log
counts for the decision log. Native work without a Python frame of its own (uvloop's socket
I/O, httptools' parser) is charged to the event loop; TLS is OpenSSL through ``ssl.py``.
``--native`` samples native frames too (finer, but py-spy then pauses the server).

Usage: python bench/profile_webhook.py [--rate 450] [--duration 10] [--hz 100] [--native]
           [--stacks PREFIX] [--top 25] [--server-arg=--flag ...]
Output: JSON lines: one ``stage`` record per stage (share of the server's CPU and of the GIL
time, ms per request of each), one ``thread`` record per server thread, one ``summary``
(server and vegeta CPU per request, GIL busy share, context switches per request, commits,
the load average, the rate's latencies); ``--top`` adds the hottest busy stacks. Rendered by
``bench/tables.py``. Needs py-spy (``pip install -e '.[bench]'``) and vegeta (``make
vegeta``); py-spy reads the server's memory (ptrace rights), which Linux's default Yama
setting (ptrace_scope 1) grants to root only for a process that is not py-spy's descendant.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_webhook
from _common import emit, thread_files

# (stage, pattern on a frame, "function (file:line)" or "function (library.so)"). The innermost
# frame matching any pattern names the stage; the order only matters for a frame matching two.
STAGES: list[tuple[str, re.Pattern[str]]] = [
    (stage, re.compile(pattern))
    for stage, pattern in [
        ("TLS (OpenSSL)", r"libssl|libcrypto|_ssl__|/ssl\.py|\(ssl\.py"),
        ("metrics", r"prometheus_client/|mlgate/server/metrics\.py"),
        ("logging", r"/logging/__init__\.py|mlgate/server/logs\.py"),
        ("gc and memory release", r"mlgate/server/memory\.py|gc_collect"),
        (
            "engine: Wasm call",
            r"opapywasm/|wasmtime/|libwasmtime|mlgate/rego/wasm|mlgate/_internal/wasm",
        ),
        (
            "engine: inputs and decision",
            r"mlgate/(engine|decision|decide|inputs|numbers|card|supplychain|policyset)[/.]",
        ),
        ("adapter (subjects)", r"mlgate/subjects/|mlgate/server/limits\.py"),
        ("namespace labels", r"mlgate/server/namespaces\.py"),
        (
            "response encoding",
            r"^(review_response|json_body|denial_message|decision_warnings|audit_annotations"
            r"|bounded_warnings|clean|sentence) \(mlgate/server/(reply|admission)\.py",
        ),
        ("metrics", r"^observe \(mlgate/server/reply\.py"),
        ("JSON parse (admission)", r"mlgate/server/admission\.py"),
        ("decision log (audit)", r"mlgate/audit/|sqlite|mlgate/server/recording\.py"),
        ("scheduler and threads", r"mlgate/server/scheduler\.py|/threading\.py|concurrent/"),
        (
            "HTTP and ASGI (uvicorn, httptools, starlette)",
            r"uvicorn/protocols|uvicorn_protocol\.py|starlette/|fastapi/|uvicorn/middleware"
            r"|httptools|llhttp|mlgate/server/app\.py",
        ),
        (
            "webhook request path (other)",
            r"mlgate/server/(webhook|outcome|refusals|warmup)\.py",
        ),
        ("event loop and sockets (uvloop)", r"asyncio/|uvicorn/server\.py|uvloop|^uv__|^UV|^loop_"),
    ]
]
OTHER = "other"
# A sample whose innermost native frames wait (for a lock, the GIL, a queue, the disk, the
# network or a timer) is a thread not using CPU: it is not counted.
_WAITING = re.compile(
    r"^(pthread_cond_(timed)?wait|PyThread_acquire_lock_timed|take_gil|sem_(timed)?wait"
    r"|epoll_wait|epoll_pwait|poll|select|clock_nanosleep|nanosleep|usleep|fdatasync|fsync"
    r"|__futex|futex|do_futex_wait|accept4?|pthread_mutex_lock)\b"
)


# Without native frames the innermost frame is Python's: these wait (a lock, a queue, a timer).
_WAITING_PY = re.compile(
    r"^(Condition\.wait|Event\.wait|Thread\._wait_for_tstate_lock|_worker) \("
    r"|^(AuditWriter\._run|AuditWriter\._run_inputs) \(mlgate/audit/writer\.py"
)


def waiting(frames: list[str]) -> bool:
    return bool(_WAITING_PY.match(frames[-1])) or any(
        _WAITING.match(frame) for frame in frames[-3:]
    )


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        for stage, pattern in STAGES:
            if pattern.search(frame):
                return stage
    return OTHER


def thread_cpu_s(pid: int) -> dict[int, float]:
    """CPU time (user + system) of each live thread of ``pid``, by native thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for tid, stat in thread_files(pid, "stat").items():
        fields = stat.rpartition(")")[2].split()  # after "(comm)": state is field 3
        out[tid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def context_switches(pid: int) -> dict[int, int]:
    """Context switches (voluntary and not) of each live thread of ``pid``: each hand-over
    between threads (a queue, a condition, a future, the GIL) costs at least one."""
    return {
        tid: sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches:" in line)
        for tid, status in thread_files(pid, "status").items()
    }


def parse_raw(text: str) -> dict[tuple[int, str], Counter[str]]:
    """py-spy ``--format raw --threads`` -> {(tid, thread name): Counter(stack line)}."""
    out: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        match = re.match(r"thread \((?:0x)?([0-9a-fA-F]+)\)(?:: (.*))?", frames[0])
        if match is None:
            continue
        tid = int(match.group(1))
        out[(tid, match.group(2) or "?")][";".join(frames[1:])] += int(count)
    return out


def py_spy_binary() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy not found: pip install -e '.[bench]' (or pip install py-spy)")
    return found


def scrape(url: str, ca: str) -> dict[str, float]:
    """The server's Prometheus metrics, label sets summed per metric name."""
    parsed = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(parsed.hostname, parsed.port, context=context, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    out: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name.partition("{")[0]] += float(value)
    return out


def audit_commits(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Group commits of the decision log during the run: how many, their size and time. An
    evaluation thread waits for its record's commit (fsync) before the request is answered."""
    batches = after["mlgate_audit_commit_duration_seconds_count"] - before.get(
        "mlgate_audit_commit_duration_seconds_count", 0
    )
    seconds = after["mlgate_audit_commit_duration_seconds_sum"] - before.get(
        "mlgate_audit_commit_duration_seconds_sum", 0
    )
    records = after["mlgate_audit_commit_batch_size_sum"] - before.get(
        "mlgate_audit_commit_batch_size_sum", 0
    )
    return {
        "audit_commits": int(batches),
        "audit_records_per_commit": round(records / batches, 2) if batches else None,
        "audit_commit_ms_mean": round(seconds * 1000 / batches, 3) if batches else None,
        "audit_commit_s": round(seconds, 3),
    }


def spawn_py_spy(
    py_spy: str, pid: int, hz: int, duration: float, flags: list[str], output: Path
) -> subprocess.Popen[str]:
    command = [
        py_spy, "record", "--pid", str(pid), "--rate", str(hz), "--duration",
        str(int(duration)), "--format", "raw", "--threads", *flags, "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def split_cpu(
    cpu: dict[int, float], samples: dict[tuple[int, str], Counter[str]]
) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Each thread's measured CPU seconds spread over stages by its busy samples."""
    by_stage: Counter[str] = Counter()
    threads = []
    named = {tid: name for tid, name in samples}
    for tid, used in sorted(cpu.items(), key=lambda kv: -kv[1]):
        split: Counter[str] = Counter()
        for stack, n in samples.get((tid, named.get(tid, "?")), Counter()).items():
            frames = stack.split(";")
            if not waiting(frames):
                split[stage_of(frames)] += n
        busy = sum(split.values())
        for stage, n in (split or Counter({OTHER: 1})).items():
            by_stage[stage] += used * n / (busy or 1)
        name = named.get(tid, f"tid {tid} (never sampled busy)")
        threads.append({"tid": tid, "thread": name, "cpu_s": round(used, 3), "busy_samples": busy})
    return by_stage, threads


def split_gil(samples: dict[tuple[int, str], Counter[str]]) -> Counter[str]:
    """Samples of the thread holding the GIL, by stage."""
    by_stage: Counter[str] = Counter()
    for counts in samples.values():
        for stack, n in counts.items():
            by_stage[stage_of(stack.split(";"))] += n
    return by_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=450, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--hz", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--timeout", type=float, default=5.0, help="per request (s)")
    parser.add_argument("--policies", type=Path, default=None)
    parser.add_argument(
        "--native",
        action="store_true",
        help="CPU sampler with native frames (splits TLS, SQLite, Wasm machine code); "
        "py-spy then pauses the server for each sample, which slows it down",
    )
    parser.add_argument("--stacks", type=Path, help="keep py-spy's raw stacks in FILE.{cpu,gil}")
    parser.add_argument("--top", type=int, default=0, help="emit the N hottest busy stacks")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra `mlgate serve` flag"
    )
    args = parser.parse_args()
    py_spy = py_spy_binary()
    mix_objects = bench_webhook.objects() + bench_webhook.signed_objects()
    mix = [bench_webhook.review(f"bench-{i}", obj) for i, obj in enumerate(mix_objects)]
    load_before = os.getloadavg()
    cpu_flags = ["--native", "--idle"] if args.native else ["--nonblocking"]
    with tempfile.TemporaryDirectory(prefix="mlgate-profile-") as tmp_name:
        tmp = Path(tmp_name)
        prefix = args.stacks or tmp / "stacks"
        outputs = {"cpu": Path(f"{prefix}.cpu"), "gil": Path(f"{prefix}.gil")}
        with bench_webhook.server(tmp, 1, args.policies, args.server_arg) as (url, ca, pid):
            metrics_before = scrape(url, ca)
            before, switches_before = thread_cpu_s(pid), context_switches(pid)
            spies = {
                kind: spawn_py_spy(py_spy, pid, args.hz, args.duration, flags, outputs[kind])
                for kind, flags in (("cpu", cpu_flags), ("gil", ["--nonblocking", "--gil"]))
            }
            started = time.perf_counter()
            result = bench_webhook.run_vegeta(
                url, ca, args.rate, args.duration, args.timeout, mix, tmp
            )
            wall = time.perf_counter() - started
            after, switches_after = thread_cpu_s(pid), context_switches(pid)
            commits = audit_commits(metrics_before, scrape(url, ca))
            for kind, spy in spies.items():
                _, err = spy.communicate(timeout=60)
                if spy.returncode != 0 or not outputs[kind].is_file():
                    raise SystemExit(f"py-spy failed ({spy.returncode}): {err.strip()[-1000:]}")
        cpu_samples = parse_raw(outputs["cpu"].read_text())
        gil_samples = parse_raw(outputs["gil"].read_text())
    load_after = os.getloadavg()
    requests = max(1, result["requests"])
    cpu = {tid: after.get(tid, 0.0) - before.get(tid, 0.0) for tid in after}
    server_cpu = sum(cpu.values())
    switches = {t: n - switches_before.get(t, 0) for t, n in switches_after.items()}
    cpu_by_stage, threads = split_cpu(cpu, cpu_samples)
    gil_by_stage = split_gil(gil_samples)
    gil_total = sum(gil_by_stage.values())
    common = {"bench": "webhook-profile", "rate": args.rate, "duration_s": args.duration}
    for stage in sorted(set(cpu_by_stage) | set(gil_by_stage), key=lambda s: -cpu_by_stage[s]):
        used, held = cpu_by_stage[stage], gil_by_stage[stage]
        emit(
            {
                **common,
                "record": "stage",
                "stage": stage,
                "cpu_share": round(used / server_cpu, 4) if server_cpu else None,
                "cpu_ms_per_request": round(used * 1000 / requests, 3),
                "gil_share": round(held / gil_total, 4) if gil_total else None,
                "gil_ms_per_request": round(held / args.hz * 1000 / requests, 3),
            }
        )
    for thread in threads:
        tid = thread.pop("tid")
        if thread["cpu_s"] > 0 or switches.get(tid):
            per_request = round(switches.get(tid, 0) / requests, 2)
            emit({**common, "record": "thread", **thread, "switches_per_request": per_request})
    if args.top:
        stacks: Counter[str] = Counter()
        for counts in cpu_samples.values():
            for stack, n in counts.items():
                frames = stack.split(";")
                if not waiting(frames):
                    stacks[" <- ".join(reversed(frames[-4:]))] += n
        for frames, n in stacks.most_common(args.top):
            emit({**common, "record": "stack", "innermost": frames, "samples": n})
    client_cpu = result.get("client_cpu_s")
    emit(
        {
            **common,
            **{k: result[k] for k in ("requests", "ok", "errors", "achieved_rps")},
            **{k: result[k] for k in ("p50_ms", "p99_ms")},
            "record": "summary",
            "server_cpu_s": round(server_cpu, 3),
            "server_cpu_ms_per_request": round(server_cpu * 1000 / requests, 3),
            "server_context_switches_per_request": round(sum(switches.values()) / requests, 2),
            "client_cpu_s": client_cpu,
            "client_cpu_ms_per_request": round(client_cpu * 1000 / requests, 3)
            if client_cpu is not None
            else None,
            # The share of the run during which some thread held the GIL (Python running).
            "gil_busy": round(gil_total / (args.hz * args.duration), 4),
            "gil_ms_per_request": round(gil_total / args.hz * 1000 / requests, 3),
            **commits,
            "wall_s": round(wall, 2),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "cpus": os.cpu_count(),
            "sampler": f"py-spy {args.hz} Hz, CPU {' '.join(cpu_flags)}, GIL --gil",
        }
    )


if __name__ == "__main__":
    main()
