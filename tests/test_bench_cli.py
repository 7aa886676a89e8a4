"""bench/bench_cli.py --smoke: the peer race's machinery works (no peer binaries needed, a
few seconds). It checks that it runs and that mlgate's verdicts are right, not its speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_cli.py"


def test_smoke_mode_runs_and_counts_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "records.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json", str(out), "--markdown"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = json.loads(out.read_text())
    cases = {(r["tool"], r["case"], r["objects"]) for r in records}
    assert cases == {
        ("mlgate", "single control", 1),
        ("mlgate", "single control", 20),
        ("mlgate", "full library", 1),
        ("mlgate", "full library", 20),
    }
    for r in records:
        assert "error" not in r, r
        assert r["wall_s"] > 0 and r["peak_rss_mib"] > 0
        # Derived from the wall time (3 significant digits), never rounded to zero.
        assert r["objects_per_s"] == pytest.approx(r["objects"] / r["wall_s"], rel=0.01)
        assert r["cpu_s"] > 0
    single = next(r for r in records if r["case"] == "single control" and r["objects"] == 20)
    assert single["denied"] == 10  # the generator denies half: mlgate found exactly those
    full = next(r for r in records if r["case"] == "full library" and r["objects"] == 20)
    assert full["denied"] == 20  # unsigned models in production: every one denied
    assert "| mlgate | single control |" in proc.stderr


def test_generated_objects_and_single_control_policy(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_cli
    finally:
        sys.path.pop(0)
    files, denied = bench_cli.write_objects(tmp_path / "o", 600)
    assert len(files) == 3 and denied == 300
    docs = list(yaml.safe_load_all(files[0].read_text()))
    assert len(docs) == bench_cli.PER_FILE
    assert {d["kind"] for d in docs} == {"InferenceService", "Deployment"}
    policies = bench_cli.single_control_policies(tmp_path / "p")
    catalogue = yaml.safe_load((policies / "controls.yaml").read_text())
    assert [c["id"] for c in catalogue["controls"]] == ["SC-DIGEST-PINNED"]
    rego = (policies / "controls" / "pinned.rego").read_text()
    assert rego.count('lib.finding("SC-DIGEST-PINNED"') == 2
