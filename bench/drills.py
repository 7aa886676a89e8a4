"""`make drills`: fault drills against a real `mlgate serve` over TLS, each reporting what the
server answered and what it logged.

1. kill -9 under load: no acknowledged decision is lost, `mlgate audit verify` passes.
2. disk full for the decision log (a small tmpfs, or RLIMIT_FSIZE where mounting is not
   allowed): allowed decisions become denials (fail closed) or fail-open admissions.
3. namespace API down: judged as production (fail closed), or admitted with --fail-open.
4. OPA backend SIGSTOPped: denied within the OPA timeout, then fast (circuit open); admitted
   with --fail-open; decided normally again after SIGCONT.
5. policy edit broken mid-write: the last good revision stays in force and /readyz and the
   metrics report the error; the fixed file loads.

    python bench/drills.py [--only NAME]    (MLGATE_OPA: the OPA binary for drill 4)

One JSON line per drill (bench/_common.emit); exit 1 if any drill fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from _common import emit  # noqa: E402
from test_webhook_app import FakeKubeAPI  # noqa: E402
from webhook_support import (  # noqa: E402
    MLGATE,
    Server,
    issue_certs,
    metric_value,
    objects,
    review,
    signed_annotations,
    wait_for,
)

WORK = Path(tempfile.mkdtemp(prefix="mlgate-drills-"))
CERTS = issue_certs(WORK / "certs")


def answer(server: Server, doc: dict[str, Any], timeout: float = 15) -> dict[str, Any]:
    started = time.monotonic()
    r = server.validate(doc, timeout=timeout)
    out: dict[str, Any] = {"http": r.status_code, "ms": round((time.monotonic() - started) * 1000)}
    if r.status_code == 200:
        resp = r.json()["response"]
        out["allowed"] = resp["allowed"]
        annotations = resp.get("auditAnnotations", {})
        out["controls"] = annotations.get("denied-controls", "")
        out["fail_open"] = annotations.get("fail-open") == "true"
        out["decision_id"] = annotations.get("decision-id")
    return out


def summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    def outcome(a: dict[str, Any]) -> str:
        if a.get("http") != 200:
            return f"http-{a.get('http')}"
        if a.get("fail_open"):
            return "admitted (fail-open)"
        if a["allowed"]:
            return "allowed"
        first = a["controls"].split(",")
        return (
            "denied: " + ",".join(first[:2]) + (f" (+{len(first) - 2})" if len(first) > 2 else "")
        )

    counts = Counter(outcome(a) for a in answers)
    ms = sorted(a.get("ms", 0) for a in answers)
    return {"n": len(answers), "outcomes": dict(counts), "max_ms": ms[-1] if ms else None}


def logged(server: Server, *words: str) -> list[str]:
    """The server's log messages that mention every word (most recent last, at most 5)."""
    out = []
    for record in server.log_records():
        text = " ".join(str(v) for v in record.values())
        if all(w in text for w in words):
            out.append(f"{record.get('level', '')} {record.get('message', '')}: "
                       f"{text[:200]}")  # fmt: skip
    return out[-5:]


@contextlib.contextmanager
def serving(
    name: str, *args: str, policies: Path | None = None, static_namespaces: bool = True
) -> Iterator[Server]:
    extra = list(args) + (["--policies", str(policies)] if policies else [])
    server = Server(WORK / name, CERTS, args=extra, static_namespaces=static_namespaces).start()
    try:
        yield server
    finally:
        server.stop()


def signed(namespace: str = "ml-staging") -> dict[str, Any]:
    return review(objects(namespace, signed_annotations())["InferenceService"])


def unsigned(namespace: str = "ml-prod") -> dict[str, Any]:
    return review(objects(namespace)["InferenceService"])


# -- 1 -----------------------------------------------------------------------------------------


def drill_kill9() -> dict[str, Any]:
    acknowledged: list[str] = []
    unrecorded: list[str] = []
    stop = threading.Event()
    with serving("kill9") as server:
        assert server.proc is not None

        def load() -> None:
            with server.client(timeout=10) as client:
                while not stop.is_set():
                    doc = signed() if len(acknowledged) % 2 else unsigned()
                    try:
                        r = client.post("/validate", json=doc)
                    except Exception:
                        return  # the server is gone
                    if r.status_code != 200:
                        continue
                    annotations = r.json()["response"]["auditAnnotations"]
                    if "MLGATE-AUDIT-ERROR" in annotations.get("denied-controls", ""):
                        unrecorded.append(annotations["decision-id"])  # said so: not acknowledged
                    else:
                        acknowledged.append(annotations["decision-id"])

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(4)
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-flight: requests are being recorded
        server.proc.wait()
        stop.set()
        for t in threads:
            t.join()
    db = sqlite3.connect(server.audit_db)
    stored = {
        row[0] for row in db.execute("SELECT decision_id FROM records WHERE type = 'decision'")
    }
    # Replay inputs are stored after the acknowledgement: those of the last batches may be
    # gone (`mlgate impact` then says no-stored-input); the decisions may not.
    without_input = db.execute(
        "SELECT count(*) FROM records r WHERE r.type = 'decision' AND NOT EXISTS "
        "(SELECT 1 FROM replay_inputs i WHERE i.seq = r.seq)"
    ).fetchone()[0]
    db.close()
    lost = [d for d in acknowledged if d not in stored]
    verify = subprocess.run([*MLGATE, "audit", "verify", "--db", str(server.audit_db)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    return {
        "drill": "kill -9 under load",
        "acknowledged": len(acknowledged),
        "denied_as_unrecordable": len(unrecorded),
        "records_in_log": len(stored),
        "acknowledged_lost": len(lost),
        "decisions_without_replay_input": without_input,
        "audit_verify_exit": verify.returncode,
        "audit_verify": verify.stdout.strip()[-200:],
        "passed": bool(acknowledged) and not lost and verify.returncode == 0,
    }


# -- 2 -----------------------------------------------------------------------------------------


def _small_disk(path: Path, size_kb: int) -> Callable[[], None]:
    """A tmpfs of ``size_kb`` at ``path``; returns its cleanup. OSError if not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                         capture_output=True, text=True)  # fmt: skip
    if run.returncode != 0:
        raise OSError(run.stderr.strip())
    return lambda: subprocess.run(["umount", "-l", str(path)], check=False)


def drill_disk_full() -> dict[str, Any]:
    results: dict[str, Any] = {"drill": "decision log disk full"}
    for mode, args in (("fail-closed", []), ("fail-open", ["--fail-open"])):
        disk = WORK / f"disk-{mode}"
        try:
            cleanup = _small_disk(disk, 1024)
            how = "tmpfs of 1 MiB, filled"
        except OSError as err:
            cleanup, how = (lambda: None), f"RLIMIT_FSIZE (mount refused: {err})"
        db = disk / "audit.db"
        with serving(f"disk-{mode}", "--audit-db", str(db), *args) as server:
            before = answer(server, signed())
            # Fill the disk: everything but a few KiB (or cap the file size of the server).
            if how.startswith("tmpfs"):
                with contextlib.suppress(OSError), open(disk / "filler", "wb") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
            else:
                assert server.proc is not None
                size = db.stat().st_size + (db.with_suffix(".db-wal").stat().st_size
                                            if db.with_suffix(".db-wal").exists() else 0)  # fmt: skip
                resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (size, size))
            during = [answer(server, signed() if i % 2 else unsigned()) for i in range(40)]
            allowed_during = [a for a in during if a.get("allowed") and not a.get("fail_open")]
            (disk / "filler").unlink(missing_ok=True)
            if not how.startswith("tmpfs"):
                assert server.proc is not None
                resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE,
                                 (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # fmt: skip
            after = answer(server, signed())
            results[mode] = {
                "how": how,
                "before": before,
                "while_full": summary(during),
                "after_space_freed": after,
                "audit_write_errors": metric_value(
                    server.metrics(), "mlgate_audit_write_errors_total"
                ),
                "logged": logged(server, "audit"),
            }
        cleanup()
        results[mode]["passed"] = (
            before.get("allowed") is True
            and not allowed_during  # nothing admitted unrecorded unless fail-open says so
            and any(
                "MLGATE-AUDIT-ERROR" in a.get("controls", "") or a.get("fail_open") for a in during
            )
            and after.get("allowed") is True
        )
    results["passed"] = all(results[m]["passed"] for m in ("fail-closed", "fail-open"))
    return results


# -- 3 -----------------------------------------------------------------------------------------


def drill_namespace_api_down() -> dict[str, Any]:
    labels = {f"ml-dev-{i}": {"mlgate.io/environment": "development"} for i in range(4)}
    api = FakeKubeAPI(labels, token="drill-token")
    token = WORK / "token"
    token.write_text("drill-token")
    results: dict[str, Any] = {"drill": "namespace API down"}
    try:
        for i, (mode, args) in enumerate((("fail-closed", []), ("fail-open", ["--fail-open"]))):
            api.up = True
            kube = ["--kube-api", api.url, "--kube-token-file", str(token)]
            with serving(f"ns-{mode}", *kube, *args, static_namespaces=False) as server:
                ns = f"ml-dev-{2 * i}"
                up = answer(server, unsigned(ns))  # development: warn-mode findings only
                api.up = False
                cold = f"ml-dev-{2 * i + 1}"  # never looked up: no cached labels
                down = [answer(server, unsigned(cold)) for _ in range(5)]
                results[mode] = {
                    "api_up": up,
                    "api_down": summary(down),
                    "logged": logged(server, "labels unavailable"),
                }
                expect_open = mode == "fail-open"
                results[mode]["passed"] = up.get("allowed") is True and all(
                    a.get("allowed") is expect_open and a.get("fail_open") is expect_open
                    for a in down
                )
    finally:
        api.close()
    results["passed"] = all(results[m]["passed"] for m in ("fail-closed", "fail-open"))
    return results


# -- 4 -----------------------------------------------------------------------------------------


def _opa_child(pid: int) -> int:
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", "opa"], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    if not pids:
        raise RuntimeError("no OPA child process found")
    return pids[0]


def drill_opa_stopped() -> dict[str, Any]:
    if not os.environ.get("MLGATE_OPA") and not shutil.which("opa"):
        return {"drill": "OPA backend SIGSTOPped", "skipped": "no OPA binary (MLGATE_OPA)",
                "passed": False}  # fmt: skip
    results: dict[str, Any] = {"drill": "OPA backend SIGSTOPped"}
    for mode, args in (("fail-closed", []), ("fail-open", ["--fail-open"])):
        with serving(f"opa-{mode}", "--backend", "opa", *args) as server:
            assert server.proc is not None
            opa = _opa_child(server.proc.pid)
            before = answer(server, signed())
            os.kill(opa, signal.SIGSTOP)
            try:
                stopped = [answer(server, signed()) for _ in range(6)]
            finally:
                os.kill(opa, signal.SIGCONT)
            after = wait_for(
                lambda: (a := answer(server, signed())).get("allowed") and not a["fail_open"] and a,
                30,
                1,
            )
            results[mode] = {
                "before": before,
                "while_stopped": summary(stopped),
                "first_ms": stopped[0]["ms"],
                "later_ms": [a["ms"] for a in stopped[1:]],
                "after_sigcont": after,
                "logged": logged(server, "OPA"),
            }
            expect_open = mode == "fail-open"
            results[mode]["passed"] = (
                before.get("allowed") is True
                and all(a.get("allowed") is expect_open for a in stopped)
                and all(
                    expect_open or "MLGATE-BACKEND-UNAVAILABLE" in a["controls"] for a in stopped
                )
                and max(a["ms"] for a in stopped) < 5000
                and after.get("allowed") is True
            )
    results["passed"] = all(results[m]["passed"] for m in ("fail-closed", "fail-open"))
    return results


# -- 5 -----------------------------------------------------------------------------------------


def drill_broken_policy_edit() -> dict[str, Any]:
    policies = WORK / "policies"
    shutil.copytree(REPO / "policies", policies)
    target = policies / "main.rego"
    good = target.read_bytes()
    with serving("policy-edit", policies=policies) as server:
        with server.client() as c:
            revision = c.get("/readyz").json()["revision"]
        before = [answer(server, signed()), answer(server, unsigned())]
        target.write_bytes(good[: len(good) // 2])  # the editor died mid-write
        with server.client() as c:
            ready = wait_for(lambda: (r := c.get("/readyz").json())["last_reload_error"] and r, 30)
        during = [answer(server, signed()), answer(server, unsigned())]
        failures = metric_value(server.metrics(), "mlgate_policy_reload_failures_total")
        target.write_bytes(good + b"\n# fixed\n")
        with server.client() as c:
            fixed = wait_for(
                lambda: (r := c.get("/readyz").json())["revision"] != revision and r, 30
            )
        after = [answer(server, signed()), answer(server, unsigned())]
        log_lines = logged(server, "reload failed")
    same = [(a.get("allowed"), a.get("controls")) for a in before] == [
        (a.get("allowed"), a.get("controls")) for a in during
    ]
    return {
        "drill": "policy edit broken mid-write",
        "before": summary(before),
        "while_broken": summary(during),
        "readyz_while_broken": {k: ready[k] for k in ("status", "revision", "last_reload_error")},
        "kept_revision": ready["revision"] == revision,
        "reload_failures_metric": failures,
        "after_fix": summary(after),
        "new_revision_loaded": fixed["revision"] != revision,
        "logged": log_lines,
        "passed": ready["revision"] == revision
        and same
        and failures >= 1
        and fixed["revision"] != revision
        and ready["status"] == "ready",
    }


DRILLS = {
    "kill9": drill_kill9,
    "disk-full": drill_disk_full,
    "namespace-api-down": drill_namespace_api_down,
    "opa-sigstop": drill_opa_stopped,
    "policy-edit": drill_broken_policy_edit,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(DRILLS), action="append")
    args = parser.parse_args()
    failed = []
    chosen = args.only or list(DRILLS)
    for name in chosen:
        started = time.monotonic()
        try:
            result = DRILLS[name]()
        except Exception as err:  # a drill that cannot run is a failed drill, reported
            result = {"drill": name, "error": f"{type(err).__name__}: {err}", "passed": False}
        result["seconds"] = round(time.monotonic() - started, 1)
        emit({"bench": "drills", "name": name, **result})
        if not result.get("passed"):
            failed.append(name)
    print(f"drills: {len(chosen) - len(failed)} of {len(chosen)} passed"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)  # fmt: skip
    shutil.rmtree(WORK, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
