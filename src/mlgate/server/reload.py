"""Policy hot reload: poll the policy directory, build a new Engine, swap it atomically.

Polling the files' (name, size, mtime) every few seconds costs a few stat calls and needs no
inotify (which does not see ConfigMap updates done by symlink swaps reliably anyway). The
files trust.yaml references (keys, CA certificates; possibly outside the directory) are
polled too: the policy revision covers them, so replacing one reloads. A new
Engine is built and warmed up off the request path; requests keep using the engine they
started with. A broken edit keeps the last good engine and is reported: log, the
``mlgate_policy_reload_failures_total`` metric and ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.engine import Engine

log = logging.getLogger("mlgate.reload")

RETRY_S = 30.0


@dataclass(frozen=True)
class ReloadStatus:
    revision: str | None
    loaded_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int


Snapshot = tuple[tuple[str, int, int], ...]


def watch_snapshot(files: tuple[Path, ...]) -> Snapshot:
    """Size and mtime of files wherever they are; a missing one is recorded as such."""
    entries = []
    for p in files:
        try:
            st = p.stat()
            entries.append((str(p), st.st_size, st.st_mtime_ns))
        except OSError:
            entries.append((str(p), -1, -1))
    return tuple(entries)


def snapshot(root: Path) -> Snapshot:
    """What changed on disk: every file's path, size and mtime (follows ConfigMap symlinks)."""
    entries = []
    try:
        for p in sorted(root.rglob("*")):
            try:
                st = p.stat()
            except OSError:
                continue
            if p.is_file():
                entries.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    except OSError:
        pass
    return tuple(entries)


class PolicyReloader:
    """Holds the engine being enforced. ``engine`` is read without a lock: one attribute."""

    def __init__(
        self,
        policy_dir: str | Path,
        *,
        interval_s: float = 2.0,
        build: Callable[[Path], Engine] = Engine.from_path,
        on_loaded: Callable[[Engine], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        warm_up: Callable[[Engine], Any] | None = None,
    ) -> None:
        self.policy_dir = Path(policy_dir)
        self.interval_s = interval_s
        self._build = build
        self._on_loaded = on_loaded
        self._on_failure = on_failure
        self._warm_up = warm_up
        self.engine: Engine | None = None
        self._loaded_at: float | None = None
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._failures = 0
        self._seen: Snapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> ReloadStatus:
        engine = self.engine
        return ReloadStatus(
            revision=engine.revision if engine is not None else None,
            loaded_at=self._loaded_at,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            failures=self._failures,
        )

    def load(self) -> bool:
        """Loads the policy set now if it changed; True if a new engine is in force."""
        listing = snapshot(self.policy_dir)
        seen = listing + watch_snapshot(self._watched())
        if seen == self._seen:
            # Unchanged files: nothing to do, except retrying a set that never loaded (the
            # failure may have been transient) now and then rather than every tick.
            retry = self.engine is None and time.time() - (self._last_error_at or 0) > RETRY_S
            if not retry:
                return False
        try:
            engine = self._build(self.policy_dir)
            if self._warm_up is not None:
                self._warm_up(engine)
        except Exception as err:
            self._seen = seen  # do not rebuild the same broken files every tick
            self._failures += 1
            self._last_error = f"{type(err).__name__}: {err}" if not str(err) else str(err)
            self._last_error_at = time.time()
            keeping = (
                f"keeping revision {self.engine.revision}" if self.engine else "no policy loaded"
            )
            log.error("policy reload failed (%s): %s", keeping, self._last_error)
            if self._on_failure is not None:
                self._on_failure(self._last_error)
            return False
        # Taken before the build: an edit made meanwhile is seen at the next tick.
        self._seen = listing + watch_snapshot(_watched_by(engine))
        old = self.engine
        if old is not None and old.revision == engine.revision:
            # Touched but identical content: keep the warm engine, clear a stale error.
            self._last_error = None
            return False
        self.engine = engine  # the atomic swap
        self._loaded_at = time.time()
        self._last_error = None
        log.info(
            "policy set loaded",
            extra={
                "fields": {"revision": engine.revision, "previous": old.revision if old else None}
            },
        )
        if self._on_loaded is not None:
            self._on_loaded(engine)
        # In-flight requests may still use the old engine; its per-thread interpreters go
        # with it when the last reference is dropped.
        return True

    def _watched(self) -> tuple[Path, ...]:
        return _watched_by(self.engine) if self.engine is not None else ()

    def start(self) -> None:
        if self._thread is not None or self.interval_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="mlgate-policy-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.load()
            except Exception:  # the watcher must survive anything
                log.exception("policy watcher failed")


def _watched_by(engine: Any) -> tuple[Path, ...]:
    """The trusted files outside the directory listing that this engine's revision covers."""
    policy_set = getattr(engine, "policy_set", None)
    return tuple(getattr(policy_set, "watched", ()))
