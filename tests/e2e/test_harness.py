"""The harness fails loudly, and cleans up by PID, whatever happens to a run."""

from __future__ import annotations

import sys
import time

import pytest

from e2e.cluster import ControlPlane
from e2e.processes import Processes, StartError, start_time, stop_recorded

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_a_missing_binary_is_an_error_not_a_skip(tmp_path):
    plane = ControlPlane(tmp_path / "no-such-bin", tmp_path / "work", Processes(tmp_path / "work"))
    with pytest.raises(StartError, match=r"etcd is missing: `make k8s-bins` builds it"):
        plane.start()


def test_a_path_that_is_not_executable_is_an_error(tmp_path):
    processes = Processes(tmp_path)
    with pytest.raises(StartError, match="is not an executable file"):
        processes.start("nothing", [str(tmp_path / "absent")])


def test_left_over_processes_are_stopped_by_their_recorded_pid(tmp_path):
    processes = Processes(tmp_path)
    pid = processes.start("sleeper", SLEEPER)
    assert (tmp_path / "pids" / "sleeper.pid").read_text().split()[0] == str(pid)
    # As after an interrupted run: a fresh clean-up only has the pid files to go by. It runs
    # at once: the child may not have its command line yet, and must be stopped all the same.
    stopped = stop_recorded(tmp_path / "pids")
    assert stopped == [f"sleeper (pid {pid})"]
    deadline = time.monotonic() + 10
    while processes.alive("sleeper") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.alive("sleeper")
    assert list((tmp_path / "pids").glob("*.pid")) == []


def test_a_recycled_pid_is_not_signalled(tmp_path):
    processes = Processes(tmp_path)
    pid = processes.start("sleeper", SLEEPER)
    try:
        pid_file = tmp_path / "pids" / "sleeper.pid"
        recorded, started, executable = pid_file.read_text().split(maxsplit=2)
        assert (int(recorded), int(started)) == (pid, start_time(pid))
        # The same PID, started at another time: another process that got the number.
        pid_file.write_text(f"{pid} {int(started) - 1} {executable}")
        assert stop_recorded(tmp_path / "pids") == []
        assert processes.alive("sleeper") and not pid_file.exists()
    finally:
        processes.stop("sleeper")
    assert not processes.alive("sleeper") and start_time(pid) is None
