"""`mlgate impact --cluster` against the real API server: the objects `mlgate scan` finds in
legacy-prod, replayed under a proposed policy set that raises the high-risk AUC minimum."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from e2e.conftest import LEGACY_JUDGED, LEGACY_NAMESPACE, REPO

NS = LEGACY_NAMESPACE


def test_impact_replays_what_a_cluster_scan_finds(cluster, tmp_path):
    proposed = tmp_path / "policies"
    shutil.copytree(REPO / "policies", proposed)
    params = proposed / "params.yaml"
    text = params.read_text()
    assert "min: {accuracy: 0.80, auc: 0.85}" in text
    params.write_text(text.replace("auc: 0.85}", "auc: 0.90}"))
    kubeconfig = ("--kubeconfig", str(cluster.endpoints.admin_kubeconfig), "--namespace", NS)
    scan = subprocess.run(
        [sys.executable, "-m", "mlgate.cli.main", "scan", *kubeconfig, "-o", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    scanned = {(r["kind"], r["name"]) for r in json.loads(scan.stdout)["results"]}
    proc = subprocess.run(
        [sys.executable, "-m", "mlgate.cli.main", "impact", "--cluster", *kubeconfig,
         "--current", str(REPO / "policies"), "--proposed", str(proposed), "-o", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # something running would be denied
    report = json.loads(proc.stdout)
    # The objects `mlgate scan` judges (test_scan.py), all replayed exactly.
    assert report["summary"]["replayed"] == len(scanned) == len(LEGACY_JUDGED)
    assert report["not_reproducible"] == []
    flips = {(f["kind"], f["name"], f["change"]) for f in report["flips"]}
    assert {(kind, name) for kind, name, _ in flips} <= scanned
    assert ("InferenceService", "credit-scorer", "allow->deny") in flips
    assert all(f["origin"] == "cluster" and f["namespace"] == NS for f in report["flips"])
    (scorer,) = [f for f in report["flips"] if f["name"] == "credit-scorer"]
    assert scorer["new_denials"] == ["GATE-METRICS"]
    assert scorer["ref"] == (
        f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/credit-scorer"
    )
    assert any("skipped" in note for note in report["notes"])  # web, and the chatbot's Pods
