"""A local ``opa run --server`` child process, for the OPA backend's managed mode and for tests.

The process listens on 127.0.0.1 only, on a free port. By default it is locked with a random
bearer token (OPA's ``--authentication=token --authorization=basic`` and a one-rule
``system.authz`` policy): without it any local user could PUT a permissive policy into the
server that decides admissions. Only ``/health`` is open, so readiness can be probed.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from mlgate._internal.private_cache import TOOL_CACHE
from mlgate.errors import BackendUnavailable

REPO_OPA = TOOL_CACHE / "bin" / "opa"
_STDERR_TAIL = 600

_AUTHZ_POLICY = """package system.authz

default allow := false

allow if input.identity == "{token}"

allow if input.path == ["health"]
"""


def find_opa_binary(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """``explicit``, else ``$MLGATE_OPA``, else ``$MLGATE_CACHE/bin/opa``, else PATH."""
    for candidate in (explicit, os.environ.get("MLGATE_OPA"), REPO_OPA):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("opa")


def free_port(host: str = "127.0.0.1") -> int:
    # Another process may take the port before OPA binds it; OpaProcess.start retries then.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class OpaProcess:
    """One ``opa run --server`` process. ``start()`` returns once ``/health`` answers 200."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        args: Sequence[str] = (),
        token: str | bool | None = True,
        port: int | None = None,
        startup_timeout: float = 15.0,
        host: str = "127.0.0.1",
    ) -> None:
        found = find_opa_binary(binary)
        if found is None:
            raise BackendUnavailable(
                "OPA binary not found: build it with `make opa` ($MLGATE_CACHE/bin/opa, default ~/.cache/mlgate), "
                "set MLGATE_OPA, or put `opa` on PATH"
            )
        self.binary = found
        self.args = list(args)
        # token=True: generate one; a string: use it; None/False: no authentication (tests).
        self.token: str | None = secrets.token_urlsafe(24) if token is True else (token or None)
        self.host = host
        self.port = port or 0
        self._fixed_port = port is not None
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def stderr_tail(self) -> str:
        if self._workdir is None:
            return ""
        try:
            text = (self._workdir / "opa.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " ".join(text[-_STDERR_TAIL:].split())

    def describe_exit(self) -> str:
        code = self.returncode
        if code is None:
            return "OPA process is running"
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = self.stderr_tail()
        return f"OPA process (pid {self.pid}) {how}" + (f": {tail}" if tail else "")

    def start(self) -> OpaProcess:
        self.stop()
        last = ""
        for _attempt in range(3):
            if not self._fixed_port:
                self.port = free_port(self.host)
            self._spawn()
            try:
                self._wait_healthy()
                atexit.register(self.stop)
                return self
            except BackendUnavailable as err:
                last = str(err)
                self.stop()
                if self._fixed_port or "address already in use" not in last:
                    break
        raise BackendUnavailable(last)

    def _spawn(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="mlgate-opa-"))
        cmd = [
            self.binary,
            "run",
            "--server",
            "--addr",
            f"{self.host}:{self.port}",
            "--log-level",
            "error",
            "--skip-version-check",
            "--shutdown-grace-period",
            "1",
        ]
        if self.token:
            authz = self._workdir / "authz.rego"
            authz.write_text(_AUTHZ_POLICY.format(token=self.token), encoding="utf-8")
            authz.chmod(0o600)
            cmd += ["--authentication=token", "--authorization=basic"]
        cmd += self.args
        if self.token:
            cmd.append(str(self._workdir / "authz.rego"))
        log = open(self._workdir / "opa.log", "wb")  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True
            )
        finally:
            log.close()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if not self.alive:
                raise BackendUnavailable(f"OPA did not start: {self.describe_exit()}")
            if self.healthy(timeout=0.5):
                return
            if time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"OPA did not become healthy within {self.startup_timeout:.0f}s "
                    f"on {self.url}: {self.stderr_tail()}"
                )
            time.sleep(0.02)

    def healthy(self, timeout: float = 1.0) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> OpaProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
