"""Processes the end-to-end run starts, each recorded by PID so that every one is stopped.

Every process gets a pid file ``WORK/pids/NAME.pid`` holding ``PID STARTTIME EXECUTABLE``.
``stop`` ends one by its PID (SIGTERM, then SIGKILL after a grace period); ``stop_all`` ends
every recorded one, and is also what ``python tests/e2e/processes.py WORK`` (run by ``make
e2e`` after pytest, whatever pytest's outcome) calls, so an interrupted run leaves nothing
behind. A recorded PID is only signalled while ``/proc/PID/stat`` shows the same start time
(clock ticks after boot, fixed at fork), so a recycled PID is never killed.

Why the start time and not ``/proc/PID/cmdline``: ``Popen`` returns once the child's exec has
closed its close-on-exec pipe, but the kernel sets up the new program's arguments after that,
and until then ``cmdline`` reads empty. A clean-up right after a start (an interrupted run)
saw an empty ``cmdline``, took the process for someone else's and left it running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A port nobody listens on right now (bind to port 0 and let the kernel choose)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartError(RuntimeError):
    """A binary could not be started or did not become ready: the run fails, loudly."""


class Processes:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.pid_dir = work / "pids"
        self.log_dir = work / "logs"
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None) -> int:
        if not Path(argv[0]).is_file() or not os.access(argv[0], os.X_OK):
            raise StartError(f"{name}: {argv[0]} is not an executable file (run `make k8s-bins`)")
        with self.log(name).open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a terminal ^C reaches pytest, which stops us in order
            )
        started = start_time(proc.pid)
        if started is not None:  # else it has already exited: nothing to stop later
            (self.pid_dir / f"{name}.pid").write_text(f"{proc.pid} {started} {argv[0]}\n")
        self._procs[name] = proc
        return proc.pid

    def alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def pid(self, name: str) -> int:
        return self._procs[name].pid

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, name: str, grace_s: float = 10.0) -> None:
        proc = self._procs.pop(name, None)
        pid_file = self.pid_dir / f"{name}.pid"
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        pid_file.unlink(missing_ok=True)

    def stop_all(self) -> None:
        # Reverse start order: the webhook and controllers before the API server, etcd last.
        for name in reversed(list(self._procs)):
            self.stop(name)
        stop_recorded(self.pid_dir)


def start_time(pid: int) -> int | None:
    """When ``pid`` started (field 22 of /proc/PID/stat), or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # exited, not yet reaped: nothing left to stop
        return None
    return int(fields[19])


def stop_recorded(pid_dir: Path, grace_s: float = 10.0) -> list[str]:
    """Stop every process recorded in ``pid_dir`` (by PID); returns what had to be stopped."""
    stopped = []
    for pid_file in sorted(pid_dir.glob("*.pid")):
        try:
            pid_text, started_text, _executable = pid_file.read_text().split(maxsplit=2)
            pid, started = int(pid_text), int(started_text)
        except (OSError, ValueError):
            print(f"e2e clean-up: {pid_file} is not 'PID STARTTIME EXECUTABLE'", file=sys.stderr)
            pid_file.unlink(missing_ok=True)
            continue
        if start_time(pid) == started:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while start_time(pid) == started and time.monotonic() < deadline:
                time.sleep(0.1)
            if start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)
            stopped.append(f"{pid_file.stem} (pid {pid})")
        pid_file.unlink(missing_ok=True)
    return stopped


if __name__ == "__main__":
    left = stop_recorded(Path(sys.argv[1]) / "pids")
    if left:
        print("e2e clean-up stopped left-over processes: " + ", ".join(left))
