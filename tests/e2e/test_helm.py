"""The Helm chart (webhook/chart): linted by Helm from the Go module proxy, rendered, compared
with the kustomize install, and applied to the real API server, where it admits and denies."""

from __future__ import annotations

import subprocess

from e2e import objects
from e2e.userview import parse_denial
from e2e.webhook import load_documents, url_variant, wait_until

CHART = objects.REPO / "webhook" / "chart"


def _helm(cluster, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {"HOME": str(cluster.work / "home"), "PATH": "/usr/bin:/bin",
           "HELM_CACHE_HOME": str(cluster.work / "helm-cache"),
           "HELM_CONFIG_HOME": str(cluster.work / "helm-config"),
           "HELM_DATA_HOME": str(cluster.work / "helm-data")}  # fmt: skip
    return subprocess.run([str(cluster.helm), *args], capture_output=True, text=True, env=env)


def _render(cluster, release: str, namespace: str, *sets: str) -> list[dict]:  # type: ignore[no-untyped-def]
    args = ["template", release, str(CHART), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    proc = _helm(cluster, *args)
    assert proc.returncode == 0, proc.stderr
    return load_documents(proc.stdout)


def _index(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_helm_lint_passes_strict(cluster):
    proc = _helm(cluster, "lint", "--strict", str(CHART))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


def test_chart_renders_what_kustomize_ships(cluster):
    chart = _index(_render(cluster, "mlgate", "mlgate-system"))
    shipped = _index(cluster.shipped)
    # The chart leaves the namespace to `helm install --create-namespace`.
    assert set(chart) == set(shipped) - {("Namespace", "mlgate-system")}
    hook, shipped_hook = (
        chart["ValidatingWebhookConfiguration", "mlgate"]["webhooks"][0],
        shipped["ValidatingWebhookConfiguration", "mlgate"]["webhooks"][0],
    )
    # Every admission-relevant field is identical; only the TLS wiring may differ.
    for key in ("name", "rules", "namespaceSelector", "matchConditions", "failurePolicy",
                "sideEffects", "timeoutSeconds", "matchPolicy", "admissionReviewVersions"):  # fmt: skip
        assert hook[key] == shipped_hook[key], key
    assert hook["clientConfig"]["service"] == shipped_hook["clientConfig"]["service"]
    role, shipped_role = (
        chart["ClusterRole", "mlgate-webhook-namespace-reader"],
        shipped["ClusterRole", "mlgate-webhook-namespace-reader"],
    )
    assert role["rules"] == shipped_role["rules"]
    pod = chart["Deployment", "mlgate-webhook"]["spec"]["template"]["spec"]
    shipped_pod = shipped["Deployment", "mlgate-webhook"]["spec"]["template"]["spec"]
    (container,), (shipped_container,) = pod["containers"], shipped_pod["containers"]
    for key in ("args", "securityContext", "resources", "ports", "volumeMounts", "env"):
        assert container[key] == shipped_container[key], key
    assert pod["securityContext"] == shipped_pod["securityContext"]
    assert pod["volumes"] == shipped_pod["volumes"]


def test_chart_output_applied_to_the_api_server_admits_and_denies(cluster):
    kubectl = cluster.kubectl
    kubectl.ok("create", "namespace", "mlgate-helm")
    docs = _render(cluster, "mlgate-helm", "mlgate-helm", "deploy.enabled=false",
                   f"webhook.url={cluster.webhook.url}", f"webhook.caBundle={cluster.webhook.ca_bundle}")  # fmt: skip
    assert {d["kind"] for d in docs} == {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
    }  # fmt: skip
    applied = kubectl.ok("apply", "-f", "-", stdin=objects.to_yaml(*docs))
    assert (
        "validatingwebhookconfiguration.admissionregistration.k8s.io/mlgate-helm created" in applied
    )
    sa = "system:serviceaccount:mlgate-helm:mlgate-helm-webhook"
    can = kubectl("auth", "can-i", "get", "namespaces", f"--as={sa}", admin=True)
    assert can.stdout.strip() == "yes"
    cannot = kubectl("auth", "can-i", "list", "namespaces", f"--as={sa}", admin=True)
    assert cannot.stdout.strip() == "no"

    # Only the chart's configuration is left: it alone makes the API server call mlgate.
    kustomize_vwc = next(
        d
        for d in url_variant(cluster.shipped, cluster.webhook.url, cluster.webhook.ca_bundle)
        if d["kind"] == "ValidatingWebhookConfiguration"
    )
    kubectl.ok("delete", "validatingwebhookconfiguration", "mlgate")
    try:
        unsigned = objects.unsigned_isvc("via-helm", "ml-prod")

        def denied():  # type: ignore[no-untyped-def]
            r = kubectl("create", "--dry-run=server", "-f", "-", stdin=objects.to_yaml(unsigned))
            return r if r.returncode == 1 else None

        result = wait_until(denied, timeout_s=30)
        assert result, "the chart's webhook configuration never called mlgate"
        denial = parse_denial(result.stderr)
        assert "SC-SIGNED" in denial.controls
        assert cluster.webhook.record(denial.decision_id)["dry_run"] is True
    finally:
        kubectl.ok("apply", "-f", "-", stdin=objects.to_yaml(kustomize_vwc))
        kubectl.ok("delete", "-f", "-", stdin=objects.to_yaml(*docs))
        kubectl.ok("delete", "namespace", "mlgate-helm", "--wait=false")
