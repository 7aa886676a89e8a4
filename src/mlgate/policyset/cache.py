"""The checked policy set, cached by content, for commands that start often (``mlgate check``).

Loading a policy set parses its YAML with line marks, validates every file against its JSON
Schema (which also imports jsonschema) and scans the Rego for unsafe builtins: most of a CI
check's start-up. The result depends only on the files read and on the code that reads them,
so it is kept under ``$MLGATE_CACHE/policysets/`` keyed by the digest of:
- every file under the policy directory (dot-directories aside, as the loader skips them),
  with its relative path, and the directory's own path (the set records it);
- the code and data that check them: ``mlgate.policyset``'s sources, ``mlgate/errors.py``,
  the JSON Schemas, the shipped Wasm manifest (its builtin list) and the Python version.
Files outside the directory that trust.yaml names (keys, CAs, trust configurations) are
hashed again on every hit; any change there, or anywhere in the key, loads afresh.

An entry is a pickle, so it is read only where no other user could have written it (the rule
of the compiled-module cache, ``mlgate._internal.private_cache``); any problem reading it
means a fresh load. The newest 16 entries are kept. ``MLGATE_POLICY_CACHE=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path

from mlgate._internal.private_cache import TOOL_CACHE, trusted_file, write_private
from mlgate.policyset.policyset import PolicySet, load_policy_set

ENV_SWITCH = "MLGATE_POLICY_CACHE"
MAX_ENTRIES = 16
_FORMAT = b"mlgate-policyset-cache-1"
_PACKAGE = Path(__file__).resolve().parent
_MLGATE = _PACKAGE.parent


def cache_dir() -> Path:
    return TOOL_CACHE / "policysets"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") not in ("0", "false", "no", "off")


def _tree(digest: hashlib._Hash, root: Path) -> None:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")


def content_key(root: Path) -> str:
    """The digest of everything a load of ``root`` depends on (see the module docstring)."""
    digest = hashlib.sha256(_FORMAT + b"\0" + sys.version.encode() + b"\0")
    digest.update(str(root).encode() + b"\0")
    _tree(digest, root)
    for code in (_PACKAGE, _MLGATE / "schemas"):
        _tree(digest, code)
    for single in (_MLGATE / "errors.py", _MLGATE / "compiled" / "policy.json"):
        if single.is_file():
            digest.update(single.read_bytes() + b"\0")
    return digest.hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def load_policy_set_cached(path: Path | str) -> PolicySet:
    """``load_policy_set(path)``, from the cache when nothing it depends on changed."""
    root = Path(path)
    if not enabled() or not root.is_dir():
        return load_policy_set(root)
    try:
        key = content_key(root)
    except OSError:
        return load_policy_set(root)
    entry = trusted_file(cache_dir(), key + ".pickle")
    if entry is not None:
        try:
            cached = pickle.loads(entry.read_bytes())
            policy_set, watched = cached["policy_set"], cached["watched"]
            if isinstance(policy_set, PolicySet) and all(
                _file_digest(Path(p)) == d for p, d in watched.items()
            ):
                return policy_set
        except Exception:  # any damage means a fresh load
            pass
    policy_set = load_policy_set(root)
    watched = {str(p): _file_digest(Path(p)) for p in policy_set.watched}
    data = pickle.dumps({"policy_set": policy_set, "watched": watched})
    write_private(cache_dir(), key + ".pickle", data)
    _evict(cache_dir())
    return policy_set


def _evict(directory: Path) -> None:
    """Keeps the newest MAX_ENTRIES entries (each ~0.4 MB; every policy directory and every
    edit makes one)."""
    try:
        entries = sorted(directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-MAX_ENTRIES]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
