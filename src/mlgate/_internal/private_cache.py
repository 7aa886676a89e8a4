"""mlgate's on-disk cache directory, and files in it that no other user could have written.

Two caches hold things mlgate runs or trusts without checking them again: the policy's
compiled machine code (``wasm_native_cache``) and the checked policy set
(``mlgate.policyset.cache``, a pickle). Both use a file only when this user owns it and the
directory holding it, and nobody else can write to either; both write atomically (a reader
sees the old file or the new one, never a part).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

# The Makefile builds tools into $MLGATE_CACHE (default ~/.cache/mlgate), shared by every clone.
TOOL_CACHE = Path(os.environ.get("MLGATE_CACHE") or Path.home() / ".cache" / "mlgate")


def is_private(path: Path) -> bool:
    """Owned by this user and writable by no one else (so no one else chose its bytes)."""
    info = path.lstat()
    return (
        info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and not stat.S_ISLNK(info.st_mode)
    )


def trusted_file(directory: Path, name: str) -> Path | None:
    """``directory/name`` if it exists and both are private, else None."""
    path = directory / name
    try:
        if path.is_file() and is_private(directory) and is_private(path):
            return path
    except OSError:
        pass
    return None


def write_private(directory: Path, name: str, data: bytes) -> None:
    """Best effort: a read-only or foreign directory only costs the work next time."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not is_private(directory):
            return
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")  # created 0600
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, directory / name)
    except OSError:
        pass
