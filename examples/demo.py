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


if __name__ == "__main__":
    main()
