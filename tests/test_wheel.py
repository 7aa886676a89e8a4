"""A wheel install (not editable) decides with its package data only: no Go, no OPA, no repo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = """
import json, sys
sys.path.insert(0, {target!r})
import mlgate
from mlgate import Engine
from mlgate.cli.main import main
from mlgate.rego.opaprocess import find_opa_binary
assert mlgate.__file__.startswith({target!r}), mlgate.__file__
assert find_opa_binary() is None, find_opa_binary()
engine = Engine.default()
print(json.dumps({{"backend": engine.backend.name, "policies": str(engine.policy_set.root)}}))
sys.exit(main(["check", "--output", "json", {manifest!r}]))
"""


def test_wheel_install_decides_without_go_or_opa(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(REPO),
            "-w",
            str(dist),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(dist.glob("mlgate-*.whl"))
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    package = target / "mlgate"
    for shipped in ("policies/main.rego", "schemas/input.schema.json", "compiled/policy.wasm"):
        assert (package / shipped).is_file() and not (package / shipped).is_symlink(), shipped
    manifest = REPO / "examples" / "manifests" / "credit-scorer-unsigned.yaml"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MLGATE_CACHE": str(tmp_path / "c")}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(target=str(target), manifest=str(manifest))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    first, _, rest = proc.stdout.partition("\n")
    info = json.loads(first)
    assert info["backend"] == "wasm"
    assert info["policies"].startswith(str(target)), info
    assert proc.returncode == 1, proc.stderr[-2000:]  # the unsigned model is denied
    report = json.loads(rest)
    text = json.dumps(report)
    assert "SC-SIGNED" in text
