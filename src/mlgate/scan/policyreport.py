"""Scan results as ``wgpolicyk8s.io/v1alpha2`` PolicyReports, the format Policy Reporter shows.

One report per evaluated object, named after the object's UID and scoped to it (``scope``),
as Kyverno writes per-resource reports. Each finding is one result: ``fail`` for a denying
control, ``warn`` for warn and audit enforcement, ``skip`` for an applied exemption, ``error``
for a fail-closed system finding (mlgate could not decide); an object with no finding gets one
``pass``. Reports mlgate wrote earlier for objects that no longer exist are deleted, so the
reports describe the cluster as it is.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from mlgate.decide import could_not_decide
from mlgate.decision import AppliedExemption, Decision, Violation
from mlgate.scan.audit import ScannedObject, ScanReport
from mlgate.scan.cluster import ClusterError

GROUP, VERSION, PLURAL = "wgpolicyk8s.io", "v1alpha2", "policyreports"
SOURCE = "mlgate"
MANAGED_BY = {"app.kubernetes.io/managed-by": "mlgate"}
MAX_MESSAGE = 1024


def report_name(obj: ScannedObject) -> str:
    return f"mlgate-{obj.meta.get('uid', obj.name)}"


def _result(
    decision: Decision, policy: str, result: str, message: str, stamp: dict[str, int], **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source": SOURCE,
        "policy": policy,
        "result": result,
        "message": message[:MAX_MESSAGE],
        "timestamp": stamp,
        "properties": {"decision_id": decision.decision_id, "risk_tier": decision.risk_tier},
    }
    out.update({k: v for k, v in extra.items() if v})
    return out


def _finding(
    decision: Decision, v: Violation, result: str, stamp: dict[str, int]
) -> dict[str, Any]:
    if could_not_decide(v.control):
        result = "error"
    entry = _result(
        decision, v.control, result, v.message, stamp,
        rule=v.title or v.control, severity=v.severity, category="mlgate",
    )  # fmt: skip
    entry["properties"].update(
        {
            "enforcement": v.enforcement,
            "regulations": "; ".join(v.regulations),
            "remediation": v.remediation[:MAX_MESSAGE],
            "path": v.path,
        }
    )
    return entry


def _exempted(e: AppliedExemption) -> str:
    return f"exempted by {e.id} until {e.expires}: {e.reason}"


def results(decision: Decision, stamp: dict[str, int]) -> list[dict[str, Any]]:
    out = [_finding(decision, v, "fail", stamp) for v in decision.violations]
    out += [_finding(decision, v, "warn", stamp) for v in decision.warnings + decision.audits]
    out += [
        _result(decision, e.control, "skip", _exempted(e), stamp, rule=e.id)
        for e in decision.exemptions
    ]
    if not out:
        out.append(
            _result(decision, "mlgate", "pass", "allowed: no control found a problem", stamp)
        )
    for note in decision.notes:
        out[0]["properties"].setdefault("notes", "")
        out[0]["properties"]["notes"] = (out[0]["properties"]["notes"] + " " + note).strip()
    return out


def policy_report(obj: ScannedObject, now_s: float | None = None) -> dict[str, Any]:
    assert obj.decision is not None
    now = time.time() if now_s is None else now_s
    stamp = {"seconds": int(now), "nanos": int((now % 1) * 1e9)}
    entries = results(obj.decision, stamp)
    counts = Counter(e["result"] for e in entries)
    meta = obj.meta
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PolicyReport",
        "metadata": {
            "name": report_name(obj),
            "namespace": obj.namespace,
            "labels": {**MANAGED_BY, "mlgate.io/kind": obj.kind, "mlgate.io/name": obj.name},
        },
        "scope": {
            "apiVersion": obj.served.api_version,
            "kind": obj.kind,
            "name": obj.name,
            "namespace": obj.namespace,
            "uid": meta.get("uid", ""),
        },
        "summary": {k: counts.get(k, 0) for k in ("pass", "fail", "warn", "error", "skip")},
        "results": entries,
    }


def write_reports(api_client: Any, report: ScanReport) -> tuple[int, int]:
    """Create or replace each object's report; delete stale mlgate reports. (written, deleted)"""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.CustomObjectsApi(api_client)
    wanted: dict[str, set[str]] = {}
    written = 0
    try:
        for obj in report.evaluated:
            if not obj.namespace:
                continue  # PolicyReport is namespaced; every kind the adapters read is too
            body = policy_report(obj)
            name = body["metadata"]["name"]
            wanted.setdefault(obj.namespace, set()).add(name)
            try:
                api.create_namespaced_custom_object(GROUP, VERSION, obj.namespace, PLURAL, body)
            except ApiException as err:
                if err.status != 409:
                    raise
                current: Any = api.get_namespaced_custom_object(
                    GROUP, VERSION, obj.namespace, PLURAL, name
                )
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                api.replace_namespaced_custom_object(
                    GROUP, VERSION, obj.namespace, PLURAL, name, body
                )
            written += 1
        deleted = 0
        existing: Any  # the kubernetes client declares these calls as returning object
        selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
        if report.namespace:
            existing = api.list_namespaced_custom_object(
                GROUP, VERSION, report.namespace, PLURAL, label_selector=selector
            )
        else:
            existing = api.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, label_selector=selector
            )
        for item in existing.get("items", []):
            name, namespace = item["metadata"]["name"], item["metadata"]["namespace"]
            if name not in wanted.get(namespace, set()):
                api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
                deleted += 1
    except ApiException as err:
        hint = " (is the wgpolicyk8s.io PolicyReport CRD installed?)" if err.status == 404 else ""
        raise ClusterError(
            f"writing PolicyReports: {err.status} {err.reason}{hint}", location=report.server
        ) from None
    return written, deleted
