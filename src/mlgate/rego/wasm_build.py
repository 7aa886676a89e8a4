"""Compiling the policy set's Rego to WebAssembly with the pinned OPA, and the shipped build.

    python -m mlgate.rego.wasm_build --policies policies          (what `make wasm` runs)
    python -m mlgate.rego.wasm_build --policies policies --check  (what `make test` runs)

The shipped policies are compiled ahead of time into ``mlgate/compiled/policy.wasm`` (package
data) with a manifest that records the digest of the Rego sources it was built from. At load:
- sources whose digest equals the manifest's use the shipped module: no Go, no OPA;
- other sources (custom or edited Rego) are compiled with OPA (``opa build -t wasm``), once per
  digest, into ``$MLGATE_CACHE/wasm/``; without OPA the error says how to get it.
Data (catalogue, parameters, exemptions) is not compiled in: the engine sets it at load, so a
YAML edit never needs a new module.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

from mlgate.errors import MlgateError, PolicyError
from mlgate.rego.hostbuiltins import HOST_BUILTINS
from mlgate.rego.opaprocess import TOOL_CACHE, find_opa_binary

ENTRYPOINT = "mlgate/main/result"
SHIPPED = resources.files("mlgate") / "compiled"
WASM_NAME, MANIFEST_NAME = "policy.wasm", "policy.json"
STALE_HINT = "run `make wasm` to rebuild the shipped policy (src/mlgate/compiled/)"
COMPILE_TIMEOUT_S = 120.0


def sources_digest(modules: Mapping[str, str], entrypoints: Sequence[str] = (ENTRYPOINT,)) -> str:
    """sha256 over the Rego modules (path and text) and the entrypoints: what a build depends on."""
    digest = hashlib.sha256()
    for rel in sorted(modules):
        digest.update(rel.encode() + b"\0" + modules[rel].encode("utf-8") + b"\0")
    digest.update("\0".join(entrypoints).encode())
    return "sha256:" + digest.hexdigest()


def shipped_manifest() -> dict[str, object]:
    try:
        manifest: dict[str, object] = json.loads(
            (SHIPPED / MANIFEST_NAME).read_text(encoding="utf-8")
        )
        return manifest
    except (OSError, ValueError):
        return {}


def _cache_dir() -> Path:
    return TOOL_CACHE / "wasm"


def compile_modules(
    modules: Mapping[str, str],
    entrypoints: Sequence[str] = (ENTRYPOINT,),
    *,
    root: str | os.PathLike[str] = "",
    opa_binary: str | None = None,
) -> bytes:
    """``opa build -t wasm`` of the modules; PolicyError naming file:line if OPA rejects them."""
    opa = find_opa_binary(opa_binary)
    if opa is None:
        raise PolicyError(
            "compiling Rego to WebAssembly needs OPA, and none was found: build it with "
            "`make opa` (into $MLGATE_CACHE/bin, default ~/.cache/mlgate), set MLGATE_OPA, or "
            "put `opa` on PATH. The shipped policies need no OPA; edited Rego does "
            f"({STALE_HINT})",
            location=str(root) or None,
        )
    with tempfile.TemporaryDirectory(prefix="mlgate-wasm-") as tmp:
        src = Path(tmp) / "src"
        for rel, source in modules.items():
            path = src / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source, encoding="utf-8")
        out = Path(tmp) / "bundle.tar.gz"
        cmd = [opa, "build", "-t", "wasm", "-o", str(out), str(src)]
        for entry in entrypoints:
            cmd += ["-e", entry]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise PolicyError(
                f"opa build did not finish in {COMPILE_TIMEOUT_S:.0f} s", location=str(root)
            ) from None
        if proc.returncode != 0:
            raise PolicyError(_one_line(proc.stderr or proc.stdout, str(src), str(root)))
        with tarfile.open(out) as tar:
            for member in tar.getmembers():
                if member.name.lstrip("/") == WASM_NAME:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return handle.read()
    raise PolicyError("opa build produced no policy.wasm", location=str(root))


_OPA_ERROR = re.compile(r"(?P<file>[^\s:]+\.rego):(?P<line>\d+): (?P<msg>[^\n]+)")


def _one_line(text: str, src: str, root: str) -> str:
    """OPA's compile errors as one line: ``<root>/<file>:<line>: <message>; ...``."""
    text = text.replace(src + os.sep, "")
    found = [
        f"{Path(root, m['file']) if root else m['file']}:{m['line']}: {m['msg'].strip()}"
        for m in _OPA_ERROR.finditer(text)
    ]
    if not found:
        found = [" ".join(text.split())[:500] or "opa build failed without a message"]
    return "Rego does not compile: " + "; ".join(found[:5])


def wasm_for(
    modules: Mapping[str, str],
    entrypoints: Sequence[str] = (ENTRYPOINT,),
    *,
    root: str | os.PathLike[str] = "",
    opa_binary: str | None = None,
) -> bytes:
    """The module for these sources: the shipped one, a cached build, or a new build."""
    digest = sources_digest(modules, entrypoints)
    if shipped_manifest().get("sources_digest") == digest:
        return (SHIPPED / WASM_NAME).read_bytes()
    cached = _cache_dir() / (digest.removeprefix("sha256:") + ".wasm")
    if cached.is_file():
        return cached.read_bytes()
    wasm = compile_modules(modules, entrypoints, root=root, opa_binary=opa_binary)
    try:  # best effort: a read-only cache only costs a rebuild next time
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as tmp:
            tmp.write(wasm)
        os.replace(tmp.name, cached)
    except OSError:
        pass
    return wasm


# A call of a builtin by name (the same shape mlgate.policyset.builtins scans for).
def first_call(modules: Mapping[str, str], name: str, root: str = "") -> str:
    """``file:line`` of the first call of builtin ``name`` in the modules, or the root."""
    pattern = re.compile(r"(?<![\w.])" + re.escape(name) + r"\s*\(")
    for rel in sorted(modules):
        for number, line in enumerate(modules[rel].splitlines(), start=1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                return f"{Path(root, rel) if root else rel}:{number}"
    return str(root) or "policies"


def refuse_unsupported_host_builtins(
    required: Iterable[str], modules: Mapping[str, str], root: str = ""
) -> None:
    """PolicyError naming file:line for each host builtin mlgate does not implement exactly."""
    missing = sorted(set(required) - set(HOST_BUILTINS))
    if missing:
        where = "; ".join(f"{first_call(modules, name, root)}: {name}" for name in missing)
        raise PolicyError(
            "builtins that OPA's Wasm target leaves to the host and that mlgate does not "
            f"implement OPA-exactly (supported: {', '.join(sorted(HOST_BUILTINS))}): {where}. "
            "Rewrite the rule without them, or compute the value in Python evidence."
        )


# ---------------------------------------------------------------------------------------
# make wasm / the staleness check
# ---------------------------------------------------------------------------------------


def _policy_modules(policy_dir: Path) -> dict[str, str]:
    from mlgate.policyset import load_policy_set

    return dict(load_policy_set(policy_dir).modules)


def _opa_version(opa: str) -> str:
    proc = subprocess.run([opa, "version"], capture_output=True, text=True, timeout=30)
    first = proc.stdout.splitlines()[:1]
    return first[0].removeprefix("Version: ").strip() if first else "unknown"


def _opa_builtins(opa: str) -> list[str]:
    proc = subprocess.run(
        [opa, "capabilities", "--current"], capture_output=True, text=True, timeout=30
    )
    return sorted({b["name"] for b in json.loads(proc.stdout)["builtins"]})


def known_builtins() -> frozenset[str] | None:
    """OPA's builtin names, as recorded when the shipped module was built (None if unknown)."""
    names = shipped_manifest().get("opa_builtins")
    return frozenset(names) if isinstance(names, list) else None


def build_shipped(policy_dir: Path, out_dir: Path, opa_binary: str | None = None) -> str:
    modules = _policy_modules(policy_dir)
    wasm = compile_modules(modules, root=policy_dir, opa_binary=opa_binary)
    opa = find_opa_binary(opa_binary) or "opa"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / WASM_NAME).write_bytes(wasm)
    manifest = {
        "entrypoint": ENTRYPOINT,
        "sources_digest": sources_digest(modules),
        "wasm_sha256": "sha256:" + hashlib.sha256(wasm).hexdigest(),
        "opa_version": _opa_version(opa),
        "modules": sorted(modules),
        # What `mlgate policy check` and the loader know as builtins without running OPA.
        "opa_builtins": _opa_builtins(opa),
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return str(manifest["sources_digest"])


def check_shipped(policy_dir: Path) -> str | None:
    """None when the shipped module is current, else what is wrong (ending in the hint)."""
    manifest = shipped_manifest()
    if not manifest:
        return f"no shipped policy.wasm: {STALE_HINT}"
    if manifest.get("sources_digest") != sources_digest(_policy_modules(policy_dir)):
        return f"the shipped policy.wasm was built from other Rego sources: {STALE_HINT}"
    wasm = (SHIPPED / WASM_NAME).read_bytes()
    if manifest.get("wasm_sha256") != "sha256:" + hashlib.sha256(wasm).hexdigest():
        return f"policy.wasm does not match its manifest: {STALE_HINT}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlgate.rego.wasm_build", description=__doc__)
    p.add_argument("--policies", type=Path, default=Path("policies"))
    p.add_argument("--out", type=Path, default=Path("src/mlgate/compiled"))
    p.add_argument("--opa", default=None, help="OPA binary (default: $MLGATE_OPA, cache, PATH)")
    p.add_argument(
        "--check", action="store_true", help="only check that the shipped build is current"
    )
    args = p.parse_args(argv)
    try:
        if args.check:
            problem = check_shipped(args.policies)
            if problem:
                print(f"mlgate: {problem}", file=sys.stderr)
                return 1
            print(
                f"mlgate: shipped policy.wasm is current ({shipped_manifest()['sources_digest']})"
            )
            return 0
        digest = build_shipped(args.policies, args.out, args.opa)
    except MlgateError as err:
        print(f"mlgate: {err}", file=sys.stderr)
        return 2
    print(f"mlgate: wrote {args.out / WASM_NAME} ({digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
