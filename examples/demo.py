"""`make demo`: real decisions on the bundled examples, through the real `mlgate` CLI.

Every decision below is computed now: signatures and attestations are verified with the
demo keys in policies/trust.yaml, the Rego policies run on the embedded engine (OPA-compiled WebAssembly).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MLGATE = str(Path(sys.executable).parent / "mlgate")
SHOW = 3  # violations shown per object; the JSON output has all of them


def run(*args: str) -> subprocess.CompletedProcess[str]:
    print(f"\n$ mlgate {' '.join(args)}")
    return subprocess.run([MLGATE, *args], cwd=REPO, capture_output=True, text=True, check=False)


def summarise_check(*args: str) -> None:
    proc = run(*args, "--output", "json")
    if proc.returncode not in (0, 1):
        sys.exit(f"demo failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    for result in report["results"]:
        d = result["decision"]
        verdict = "ALLOWED" if d["allowed"] else "DENIED "
        print(
            f"  {verdict} {result['kind']}/{result['name']}  ({result['file']}, tier {d['risk_tier']}, env {d['subject']['environment']})"
        )
        for v in d["violations"][:SHOW]:
            print(f"      x {v['control']}: {v['message']}")
            control = report["controls"][v["control"]]  # title, regulations, fix: once per control
            print(f"        {', '.join(control['regulations'])} | fix: {control['remediation'][:110]}")
        if len(d["violations"]) > SHOW:
            print(f"      ... and {len(d['violations']) - SHOW} more violation(s)")
        for v in d["warnings"][:SHOW]:
            print(f"      ! {v['control']} (warn): {v['message']}")
    print(f"  exit code {proc.returncode} (0 all allowed, 1 a denial)")


def main() -> None:
    print("== 1. CI: model manifests (mlgate check) ==")
    summarise_check("check", "examples/manifests/")

    print("\n== 2. Kubernetes objects, as the admission webhook sees them ==")
    print("  (credit-scorer-shadow is an attack: the approved model's signature and attestation")
    print("   copied onto an InferenceService that loads another model; SC-URI-BOUND denies it)")
    summarise_check(
        "check", "examples/k8s/", "--user", "release-bot", "--group", "mlops-release-managers"
    )

    print("\n== 3. Promotion gates from data (mlgate gate) ==")
    for current in ("current-stable.csv", "current-drifted.csv"):
        proc = run(
            "gate", "--reference", "examples/data/reference.csv",
            "--current", f"examples/data/{current}",
            "--label", "label", "--prediction", "prediction", "--score", "score",
            "--group", "sex", "--period", "month", "--bootstrap", "200",
            "--risk-tier", "high", "--environment", "production",
        )  # fmt: skip
        tail = proc.stdout[proc.stdout.find("PROMOTION") :]
        print("  " + tail.strip().replace("\n", "\n  ")[:1500])
        print(f"  exit code {proc.returncode}")

    print("\n== 4. Pod start: verify the bytes that are actually loaded ==")
    digest = run("digest", "examples/models/credit-scorer").stdout.strip()
    print(f"  {digest}")
    proc = run(
        "verify", "--model-dir", "examples/models/credit-scorer",
        "--expect-digest", digest, "--policies", "policies",
    )  # fmt: skip
    print(f"  {(proc.stdout or proc.stderr).strip()}  (exit code {proc.returncode})")
    wrong = "sha256:" + "0" * 64
    proc = run(
        "verify", "--model-dir", "examples/models/credit-scorer",
        "--expect-digest", wrong, "--policies", "policies",
    )  # fmt: skip
    print(f"  {(proc.stdout or proc.stderr).strip()[:300]}  (exit code {proc.returncode})")

    compliance()


def compliance() -> None:
    """What a compliance officer sees: the demo's decisions in a decision log, the impact of a
    proposed rule change on them, and the compliance report for an auditor."""
    import shutil

    from mlgate.audit.local import record_subjects
    from mlgate.engine import Engine
    from mlgate.impact.objects import find_objects
    from mlgate.subjects import RequestInfo

    print("\n== 5. Compliance: decision log, impact of a proposed change, report ==")
    out = REPO / ".demo"
    out.mkdir(exist_ok=True)
    db = out / "audit.db"
    for stale in out.glob("audit.db*"):
        stale.unlink()
    engine = Engine.default()
    try:  # the same objects and deployers as steps 1 and 2, recorded as the webhook records
        ci = RequestInfo(source="manifest")
        release = RequestInfo(
            username="release-bot", groups=("mlops-release-managers",), source="manifest"
        )
        subjects = [o.subject for o in find_objects([str(REPO / "examples/manifests")], ci)]
        subjects += [o.subject for o in find_objects([str(REPO / "examples/k8s")], release)]
        decisions = record_subjects(db, engine, subjects)
    finally:
        engine.close()
    print(
        f"  recorded {len(decisions)} decisions (masked, with replay inputs) in {db.relative_to(REPO)}"
    )
    proposed = out / "proposed-policies"
    shutil.rmtree(proposed, ignore_errors=True)
    shutil.copytree(REPO / "policies", proposed)
    params = proposed / "params.yaml"
    params.write_text(params.read_text().replace("auc: 0.85}", "auc: 0.90}"))
    print(
        "  proposed change: high-risk AUC minimum 0.85 -> 0.90 (a copy in .demo/proposed-policies)"
    )
    proc = run("impact", "--audit-db", str(db), "--proposed", str(proposed))
    print("  " + proc.stdout.strip().replace("\n", "\n  ")[:1800])
    print(f"  exit code {proc.returncode} (1: the change would deny something admitted today)")
    report = out / "compliance-report.html"
    proc = run("report", "--audit-db", str(db), "--out", str(report))
    if proc.returncode != 0:
        sys.exit(f"demo failed: {proc.stderr.strip()}")
    print(f"  {proc.stderr.strip()}")
    print(f"\nCompliance report for the demo's decisions: {report}")


if __name__ == "__main__":
    main()
