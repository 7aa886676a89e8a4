"""Where a policy set comes from: a directory, a git revision or a (signed) bundle."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlgate.errors import InputError
from mlgate.policyset import PolicySet, load_policy_set

_TEMP_DIRS: list[tempfile.TemporaryDirectory[str]] = []  # kept alive for the process


@dataclass(frozen=True)
class PolicySource:
    label: str  # what the user gave, for the report
    kind: str  # "directory" | "git" | "bundle"
    policy_set: PolicySet
    spec: str = ""  # how `mlgate policy diff` names it: a directory, or REV:PATH in git

    def describe(self) -> dict[str, str]:
        return {
            "label": self.label,
            "kind": self.kind,
            "revision": self.policy_set.revision,
            "path": str(self.policy_set.root),
        }

    @property
    def trust_fingerprint(self) -> str:
        """Digest of trust.yaml: evidence verified under one trust policy is not evidence
        under another."""
        path = self.policy_set.root / "trust.yaml"
        data = path.read_bytes() if path.exists() else b""
        return hashlib.sha256(data).hexdigest()


def _git(repo: Path, *args: str) -> bytes:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise InputError(
            f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}",
            location=str(repo),
        )
    return proc.stdout


def _from_git(spec: str, repo: Path, policy_path: str) -> PolicySource:
    """The whole tree at a revision, extracted privately, so relative trust paths still work."""
    rev = spec.removeprefix("git:")
    try:
        commit = _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
    except InputError as err:
        raise InputError(err.message, location=spec, code="impact.unknown_revision") from None
    archive = _git(repo, "archive", "--format=tar", commit)
    tmp = tempfile.TemporaryDirectory(prefix="mlgate-impact-")
    _TEMP_DIRS.append(tmp)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp.name, filter="data")
    root = Path(tmp.name) / policy_path
    if not root.is_dir():
        raise InputError(f"revision {rev} has no {policy_path}/ directory", location=spec)
    return PolicySource(
        f"{rev} ({commit[:12]})", "git", load_policy_set(root), f"{rev}:{policy_path}"
    )


def _repo_of(path: Path) -> tuple[Path, str]:
    top = Path(_git(path, "rev-parse", "--show-toplevel").decode().strip())
    return top, path.resolve().relative_to(top.resolve()).as_posix()


def load_source(
    spec: str,
    *,
    reference_dir: Path,
    bundle_key: Path | None = None,
    allow_unsigned: bool = False,
) -> PolicySource:
    """``spec``: a policy directory, a bundle file (.tar.gz), or a git revision (``git:REV``
    or any name git resolves), taken from the repository holding ``reference_dir`` at the
    same relative path."""
    path = Path(spec)
    if not spec.startswith("git:") and path.is_dir():
        return PolicySource(spec, "directory", load_policy_set(path), spec)
    if not spec.startswith("git:") and path.is_file():
        from mlgate.policyset.bundle import load_bundle

        return PolicySource(
            spec, "bundle", load_bundle(path, bundle_key, allow_unsigned=allow_unsigned), spec
        )
    try:
        repo, policy_path = _repo_of(reference_dir)
    except (InputError, ValueError) as err:
        raise InputError(
            f"{spec!r} is not a directory or bundle, and {reference_dir} is not in a git "
            f"repository to resolve it as a revision ({err})",
            location=spec,
        ) from None
    return _from_git(spec, repo, policy_path)
