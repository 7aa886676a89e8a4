"""`mlgate scan` pieces that need no cluster: PolicyReport shape, access set aside, paths.

The scan itself runs against a real API server in tests/e2e/test_scan.py (`make e2e`).
"""

from __future__ import annotations

from mlgate.decision import AppliedExemption, Decision, Violation
from mlgate.scan.audit import ScannedObject, set_aside_access
from mlgate.scan.cluster import ClusterReader, ServedKind
from mlgate.scan.policyreport import policy_report
from mlgate.subjects.kinds import ADAPTERS

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


class _Discovery(ClusterReader):
    """An API server's discovery documents (the shape of /apis and /apis/GROUP/VERSION)."""

    def __init__(self, docs: dict[str, dict]) -> None:
        super().__init__(api_client=None)
        self.docs = docs

    def get(self, path: str, query=None) -> dict:  # type: ignore[no-untyped-def]
        return self.docs.get(path, {"resources": []})


def _resource(name: str, kind: str) -> dict:
    return {"name": name, "kind": kind, "namespaced": True, "verbs": ["get", "list"]}


def _group(name: str, preferred: str, *versions: str) -> dict:
    return {
        "name": name,
        "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{name}/{preferred}", "version": preferred},
    }


KSERVE_ONLY = {
    "/api/v1": {"resources": [_resource("services", "Service"), _resource("pods", "Pod")]},
    "/apis": {"groups": [_group("serving.kserve.io", "v1beta1", "v1beta1", "v1alpha1")]},
    "/apis/serving.kserve.io/v1beta1": {
        "resources": [
            _resource("inferenceservices", "InferenceService"),
            _resource("inferenceservices/status", "InferenceService"),
        ]
    },
    "/apis/serving.kserve.io/v1alpha1": {
        "resources": [
            _resource("servingruntimes", "ServingRuntime"),
            _resource("trainedmodels", "TrainedModel"),
        ]
    },
}


def test_kinds_are_matched_by_group_and_kind_at_a_version_the_adapter_reads():
    served, unserved = _Discovery(KSERVE_ONLY).served(ADAPTERS)
    at = {(s.group, s.kind): (s.version, s.plural) for s in served}
    assert at[("serving.kserve.io", "InferenceService")] == ("v1beta1", "inferenceservices")
    # Not the group's preferred version: still found, at the version KServe serves it.
    assert at[("serving.kserve.io", "ServingRuntime")] == ("v1alpha1", "servingruntimes")
    assert at[("", "Pod")] == ("v1", "pods")
    # The core Service is not Knative's serving.knative.dev Service.
    assert ("", "Service") not in at
    missing = {(k.group, k.kind): k for k in unserved}
    knative = missing["serving.knative.dev", "Service"]
    assert knative.name == "services.serving.knative.dev"
    assert knative.reason == "not served by this API server (is its CRD installed?)"
    assert ("serving.kserve.io", "ClusterServingRuntime") in missing
    assert set(at).isdisjoint(missing)
    assert len(at) + len(missing) == len(ADAPTERS)


def test_a_kind_served_only_at_a_version_no_adapter_reads_is_reported_with_the_versions():
    docs = {
        **KSERVE_ONLY,
        "/apis": {"groups": [_group("serving.kserve.io", "v1", "v1", "v1beta1")]},
        "/apis/serving.kserve.io/v1": {
            "resources": [_resource("servingruntimes", "ServingRuntime")]
        },
    }
    served, unserved = _Discovery(docs).served(ADAPTERS)
    assert ("serving.kserve.io", "InferenceService") in {(s.group, s.kind) for s in served}
    (runtime,) = [k for k in unserved if k.kind == "ServingRuntime"]
    assert runtime.reason == "served only at v1; mlgate reads v1alpha1"
