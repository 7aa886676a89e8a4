"""`mlgate scan` pieces that need no cluster: PolicyReport shape, access set aside, paths.

The scan itself runs against a real API server in tests/e2e/test_scan.py (`make e2e`).
"""

from __future__ import annotations

from mlgate.decision import AppliedExemption, Decision, Violation
from mlgate.scan.audit import ScannedObject, set_aside_access
from mlgate.scan.cluster import ServedKind
from mlgate.scan.policyreport import policy_report

ISVC = ServedKind("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", True)
POD = ServedKind("", "v1", "Pod", "pods", True)


def _violation(control: str, enforcement: str = "deny", severity: str = "critical") -> Violation:
    return Violation(control, severity, enforcement, f"{control} failed", ["Art. 1"], "fix it")


def _decision(**kw) -> Decision:  # type: ignore[no-untyped-def]
    return Decision(allowed=not kw.get("violations"), decision_id="d-1",
                    subject={"kind": "InferenceService"}, risk_tier="high", **kw)  # fmt: skip


def _obj(decision: Decision) -> ScannedObject:
    meta = {"name": "m", "namespace": "ns", "uid": "0f9e"}
    return ScannedObject(ISVC, {"metadata": meta}, decision=decision)


def test_paths_of_core_and_group_kinds():
    assert ISVC.path("ns") == "/apis/serving.kserve.io/v1beta1/namespaces/ns/inferenceservices"
    assert ISVC.path() == "/apis/serving.kserve.io/v1beta1/inferenceservices"
    assert POD.path("ns") == "/api/v1/namespaces/ns/pods"
    assert (POD.api_version, ISVC.api_version) == ("v1", "serving.kserve.io/v1beta1")


def test_report_maps_enforcement_to_results_and_counts_them():
    decision = _decision(
        violations=[_violation("SC-SIGNED"), _violation("MLGATE-EVAL-ERROR")],
        warnings=[_violation("GDPR-35-DPIA", "warn", "high")],
        audits=[_violation("AIA-12-LOGGING", "audit", "low")],
        exemptions=[AppliedExemption("EX-1", "AIA-13", "pilot", "cro@x", "2027-01-01")],
    )
    report = policy_report(_obj(decision), now_s=1_800_000_000.25)
    assert report["metadata"]["name"] == "mlgate-0f9e"
    assert report["scope"] == {"apiVersion": "serving.kserve.io/v1beta1",
                               "kind": "InferenceService", "name": "m", "namespace": "ns",
                               "uid": "0f9e"}  # fmt: skip
    got = [(r["policy"], r["result"]) for r in report["results"]]
    assert got == [("SC-SIGNED", "fail"), ("MLGATE-EVAL-ERROR", "error"),
                   ("GDPR-35-DPIA", "warn"), ("AIA-12-LOGGING", "warn"), ("AIA-13", "skip")]  # fmt: skip
    assert report["summary"] == {"pass": 0, "fail": 1, "warn": 2, "error": 1, "skip": 1}
    first = report["results"][0]
    assert first["timestamp"] == {"seconds": 1_800_000_000, "nanos": 250_000_000}
    assert first["properties"]["decision_id"] == "d-1"
    assert first["properties"]["enforcement"] == "deny"


def test_report_of_a_clean_object_is_one_pass():
    report = policy_report(_obj(_decision()), now_s=0)
    assert [(r["policy"], r["result"]) for r in report["results"]] == [("mlgate", "pass")]
    assert report["summary"]["pass"] == 1


def test_access_findings_are_set_aside_with_a_note_and_the_verdict_recomputed():
    decision = _decision(violations=[_violation("ACCESS-DEPLOYER")])
    assert decision.allowed is False
    judged = set_aside_access(decision, {"ACCESS-DEPLOYER"})
    assert judged.allowed is True and judged.violations == []
    assert "ACCESS-DEPLOYER" in judged.notes[0]
    mixed = _decision(violations=[_violation("ACCESS-DEPLOYER"), _violation("SC-SIGNED")])
    judged = set_aside_access(mixed, {"ACCESS-DEPLOYER"})
    assert judged.allowed is False and [v.control for v in judged.violations] == ["SC-SIGNED"]
    untouched = _decision(violations=[_violation("SC-SIGNED")])
    assert set_aside_access(untouched, {"ACCESS-DEPLOYER"}) is untouched
