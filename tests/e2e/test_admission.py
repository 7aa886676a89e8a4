"""Admission through a real kube-apiserver: what kubectl and the Python client show.

Every scenario goes API server -> ValidatingWebhookConfiguration (as shipped, URL variant) ->
`mlgate serve` over TLS on 127.0.0.1 -> the decision log, and asserts the exact text the user
sees, tied to the decision the webhook recorded.
"""

from __future__ import annotations

import json

import pytest
import yaml

from e2e import guide, objects
from e2e.conftest import HELD
from e2e.userview import WEBHOOK, parse_denial, warnings
from e2e.webhook import wait_until

PROD, STAGING, OPTOUT = "ml-prod", "ml-staging", "ml-optout"
ISVC = "inferenceservice.serving.kserve.io"


def _create(cluster, obj, transcript: str = ""):  # type: ignore[no-untyped-def]
    result = cluster.kubectl("create", "-f", "-", stdin=objects.to_yaml(obj))
    if transcript:
        shown = f"{obj['metadata']['name']}.yaml"
        cluster.kubectl.transcript(transcript, ("create", "-f", "-"), shown, result)
    return result


def _assert_denied(cluster, obj, control: str, transcript: str = ""):  # type: ignore[no-untyped-def]
    """kubectl exits 1 with exactly one line: the webhook's denial, naming ``control``."""
    result = _create(cluster, obj, transcript)
    assert result.returncode == 1, result
    assert result.stdout == ""
    denial = parse_denial(result.stderr)
    meta = obj["metadata"]
    assert (denial.verb, denial.kind, denial.namespace, denial.name) == (
        "creating", obj["kind"], meta["namespace"], meta["name"],
    )  # fmt: skip
    # The control id is in what kubectl prints, and the decision log holds the same decision.
    assert control in result.stderr, result.stderr
    record = cluster.webhook.record(denial.decision_id)
    assert record["allowed"] is False
    assert control in record["controls"]
    assert set(denial.controls) <= set(record["controls"])
    assert len(record["controls"]) == len(denial.controls) + denial.more
    assert (record["kind"], record["namespace"], record["name"]) == (
        obj["kind"], meta["namespace"], meta["name"],
    )  # fmt: skip
    # Denied means not stored.
    gone = cluster.kubectl("get", obj["kind"].lower(), meta["name"], "-n", meta["namespace"])
    assert gone.returncode == 1 and "NotFound" in gone.stderr
    return denial, record


def _last_record(cluster, name: str):  # type: ignore[no-untyped-def]
    matching = [r for r in cluster.webhook.records() if r["name"] == name]
    assert matching, f"no decision recorded for {name}"
    return matching[-1]


def test_signed_attested_bound_inferenceservice_is_admitted(cluster):
    obj = objects.signed_isvc("credit-scorer", PROD)
    result = _create(cluster, obj, "admitted")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"{ISVC}/credit-scorer created\n", "",
    )  # fmt: skip
    record = _last_record(cluster, "credit-scorer")
    assert record["allowed"] is True and record["operation"] == "CREATE"
    assert record["risk_tier"] == "high" and record["namespace"] == PROD
    assert record["dry_run"] is False


def test_unsigned_inferenceservice_is_denied(cluster):
    denial, _ = _assert_denied(
        cluster, objects.unsigned_isvc("unsigned", PROD), "SC-SIGNED", "denied"
    )
    # Root cause first: what kubectl shows first is a supply-chain finding, not paperwork.
    assert denial.first.startswith("SC-"), denial
    assert denial.controls[0] == denial.first


def test_another_models_annotations_are_denied(cluster):
    # The signed credit scorer's digest, signature and attestation, copied onto an object that
    # loads a different URI: the attestation does not name it.
    obj = objects.copied_annotations_isvc("copied", PROD)
    denial, _ = _assert_denied(cluster, obj, "SC-URI-BOUND")
    assert denial.first == "SC-URI-BOUND"
    uri = objects.storage_uri(obj)
    assert denial.finding.startswith(f"expected {uri}, attested ")


def test_tampered_digest_is_denied(cluster):
    _assert_denied(cluster, objects.tampered_digest_isvc("tampered", PROD), "SC-DIGEST-MATCH")


def test_high_risk_without_dpia_is_denied_through_the_python_client(cluster):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    obj = objects.no_dpia_isvc(cluster.work, "no-dpia", PROD)
    api = client.CustomObjectsApi(cluster.api_client())
    with pytest.raises(ApiException) as info:
        api.create_namespaced_custom_object("serving.kserve.io", "v1beta1", PROD,
                                            "inferenceservices", obj)  # fmt: skip
    assert info.value.status == 403
    status = json.loads(info.value.body)
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status", "Failure", "Forbidden", 403,
    )  # fmt: skip
    prefix = f'admission webhook "{WEBHOOK}" denied the request: '
    assert status["message"].startswith(prefix + "mlgate denied InferenceService ml-prod/no-dpia: ")
    # The same text kubectl shows, after kubectl's own prefix.
    denial = parse_denial(
        'Error from server (Forbidden): error when creating "STDIN": '
        + status["message"] + "\n"
    )  # fmt: skip
    assert denial.controls == ["GDPR-35-DPIA"]
    assert "dpia_ref" in denial.finding
    assert cluster.webhook.record(denial.decision_id)["risk_tier"] == "high"


def test_warn_mode_shows_kubectl_warnings_and_admits(cluster):
    obj = objects.no_dpia_isvc(cluster.work, "no-dpia", STAGING)
    result = _create(cluster, obj, "warned")
    assert result.returncode == 0, result
    assert result.stdout == f"{ISVC}/no-dpia created\n"
    shown = warnings(result.stderr)
    assert shown and shown[0].startswith("GDPR-35-DPIA: a data protection impact assessment")
    assert all(len(w) <= 120 for w in shown)
    record = _last_record(cluster, "no-dpia")
    assert record["allowed"] is True and record["namespace"] == STAGING
    assert record["warned"] == ["GDPR-35-DPIA"]


def test_python_client_receives_the_warning_header(cluster):
    from kubernetes import client

    obj = objects.no_dpia_isvc(cluster.work, "no-dpia-py", STAGING)
    api = client.CustomObjectsApi(cluster.api_client())
    _, status, headers = api.create_namespaced_custom_object_with_http_info(
        "serving.kserve.io", "v1beta1", STAGING, "inferenceservices", obj
    )
    assert status == 201
    assert headers["Warning"].startswith('299 - "GDPR-35-DPIA: a data protection impact')


def test_server_side_dry_run_is_evaluated_and_recorded(cluster):
    allowed = objects.signed_isvc("dry-allowed", PROD)
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=objects.to_yaml(allowed))
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"{ISVC}/dry-allowed created (server dry run)\n", "",
    )  # fmt: skip
    record = _last_record(cluster, "dry-allowed")
    assert record["dry_run"] is True and record["allowed"] is True
    gone = cluster.kubectl("get", "inferenceservice", "dry-allowed", "-n", PROD)
    assert gone.returncode == 1 and "NotFound" in gone.stderr

    denied = objects.unsigned_isvc("dry-denied", PROD)
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=objects.to_yaml(denied))
    assert result.returncode == 1
    denial = parse_denial(result.stderr)
    assert "SC-SIGNED" in denial.controls
    assert cluster.webhook.record(denial.decision_id)["dry_run"] is True


@pytest.mark.parametrize("shell", [False, True], ids=["exec", "sh-c"])
def test_vllm_deployment_with_an_unsigned_model_is_denied(cluster, shell):
    # `vllm serve MODEL` as the container's command, and the same inside `sh -c "..."`: the
    # model is found in both and judged, so wrapping the server in a shell hides nothing.
    model = "s3://llm-weights/support-chatbot/latest"
    name = "support-chatbot-sh" if shell else "support-chatbot"
    obj = objects.vllm_deployment(name, PROD, model, shell=shell)
    _, record = _assert_denied(cluster, obj, "SC-SIGNED")
    subject = record["decision"]["subject"]
    assert (subject["component"], subject["uri"]) == ("container/vllm", model)


def test_compliant_deployment_and_its_controller_made_children_are_admitted(cluster):
    obj = objects.compliant_deployment("credit-scorer-triton", PROD)
    result = _create(cluster, obj)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "deployment.apps/credit-scorer-triton created\n", "",
    )  # fmt: skip
    assert _last_record(cluster, "credit-scorer-triton")["allowed"] is True

    # kube-controller-manager creates the ReplicaSet and its Pod (Pending: no kubelet).
    def children():  # type: ignore[no-untyped-def]
        rs = json.loads(cluster.kubectl.ok("get", "rs", "-n", PROD, "-l", "app=credit-scorer-triton",
                                           "-o", "json"))["items"]  # fmt: skip
        pods = json.loads(cluster.kubectl.ok("get", "pods", "-n", PROD, "-l",
                                             "app=credit-scorer-triton", "-o", "json"))["items"]  # fmt: skip
        return (rs, pods) if rs and len(pods) == obj["spec"]["replicas"] else None

    found = wait_until(children, timeout_s=60)
    assert found, "the controller manager made no ReplicaSet and Pod"
    (rs,), pods = found
    assert rs["metadata"]["ownerReferences"][0]["name"] == "credit-scorer-triton"
    assert len(pods) == obj["spec"]["replicas"]
    for pod in pods:
        assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
        assert pod["status"]["phase"] == "Pending"


def test_update_removing_finalizers_passes(cluster):
    obj = objects.signed_isvc("with-finalizer", PROD)
    obj["metadata"]["finalizers"] = ["example.com/cleanup"]
    assert _create(cluster, obj).returncode == 0
    result = cluster.kubectl(
        "patch", "inferenceservice", "with-finalizer", "-n", PROD,
        "--type=json", "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"{ISVC}/with-finalizer patched\n", "",
    )  # fmt: skip
    record = _last_record(cluster, "with-finalizer")
    assert (record["operation"], record["allowed"]) == ("UPDATE", True)


def test_removing_finalizers_from_a_non_compliant_object_passes(cluster):
    # "held" predates the webhook and is unsigned: judged on its model it would be denied, but
    # an UPDATE that changes no model-bearing field must go through, or it can never be
    # deleted.
    result = cluster.kubectl(
        "patch", "inferenceservice", "held", "-n", HELD,
        "--type=json", "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"{ISVC}/held patched\n", "",
    )  # fmt: skip
    record = _last_record(cluster, "held")
    assert (record["operation"], record["allowed"], record["namespace"]) == ("UPDATE", True, HELD)
    gone = cluster.kubectl("delete", "inferenceservice", "held", "-n", HELD, "--wait=true")
    assert gone.returncode == 0, gone


def test_update_swapping_the_model_is_judged(cluster):
    obj = objects.signed_isvc("swap-me", PROD)
    assert _create(cluster, obj).returncode == 0
    current = json.loads(cluster.kubectl.ok("get", "inferenceservice", "swap-me", "-n", PROD,
                                            "-o", "json"))  # fmt: skip
    # Point the object at another model: a different digest that no signature covers.
    current["metadata"]["annotations"][objects.DIGEST] = "sha256:" + "ab" * 32
    current["spec"]["predictor"]["model"]["storageUri"] = "s3://ml-models-prod/other-model/1.0.0"
    denial, record = _assert_denied_update(cluster, current)
    assert denial.first.startswith("SC-")  # the supply-chain finding leads
    assert "SC-DIGEST-MATCH" in record["controls"]
    assert record["operation"] == "UPDATE"
    # The stored object still names the admitted model.
    stored = json.loads(cluster.kubectl.ok("get", "inferenceservice", "swap-me", "-n", PROD,
                                           "-o", "json"))  # fmt: skip
    assert objects.storage_uri(stored) == objects.storage_uri(obj)


def _assert_denied_update(cluster, obj):  # type: ignore[no-untyped-def]
    result = cluster.kubectl("replace", "-f", "-", stdin=objects.to_yaml(obj))
    assert result.returncode == 1, result
    denial = parse_denial(result.stderr)
    assert (denial.verb, denial.name) == ("replacing", obj["metadata"]["name"])
    return denial, cluster.webhook.record(denial.decision_id)


def test_namespace_labels_come_from_the_api_with_the_shipped_rbac(cluster):
    sa = "system:serviceaccount:mlgate-system:mlgate-webhook"

    def can(verb: str, resource: str) -> str:
        r = cluster.kubectl("auth", "can-i", verb, resource, f"--as={sa}", admin=True)
        return r.stdout.strip()

    # Sufficient: get namespaces. Minimal: nothing else.
    assert can("get", "namespaces") == "yes"
    for verb, resource in (("list", "namespaces"), ("watch", "namespaces"),
                           ("patch", "namespaces"), ("get", "secrets"),
                           ("get", "inferenceservices.serving.kserve.io"), ("create", "pods")):  # fmt: skip
        assert can(verb, resource) == "no", (verb, resource)
    # The webhook used that identity: its look-ups succeeded (the staging warning above
    # needs the staging label) and the API server saw the service account.
    metrics = cluster.webhook.metrics()
    assert 'result="fetched"' in metrics


def test_webhook_down_blocks_creation_unless_the_namespace_opted_out(cluster):
    cluster.webhook.stop()
    try:
        blocked = _create(cluster, objects.signed_isvc("while-down", PROD))
        assert blocked.returncode == 1
        assert blocked.stderr.startswith(
            'Error from server (InternalError): error when creating "STDIN": Internal error '
            f'occurred: failed calling webhook "{WEBHOOK}": failed to call webhook: Post '
            f'"{cluster.webhook.url}?timeout=5s": dial tcp 127.0.0.1:{cluster.webhook.port}: '
            "connect: connection refused"
        ), blocked.stderr
        passed = _create(cluster, objects.unsigned_isvc("while-down", OPTOUT))
        assert (passed.returncode, passed.stdout) == (0, f"{ISVC}/while-down created\n")
    finally:
        cluster.webhook.start()
    # Back up: the same request is decided again.
    assert _create(cluster, objects.signed_isvc("while-down", PROD)).returncode == 0


def test_policy_edit_is_hot_reloaded_and_used_by_the_next_admission(cluster):
    obj = objects.no_dpia_isvc(cluster.work, "reload", PROD)
    _assert_denied(cluster, obj, "GDPR-35-DPIA")
    controls = cluster.webhook.policies / "controls.yaml"
    original = controls.read_text()
    before = cluster.webhook.revision()
    catalogue = yaml.safe_load(original)
    (dpia,) = [c for c in catalogue["controls"] if c["id"] == "GDPR-35-DPIA"]
    dpia.setdefault("enforcement_overrides", {})["namespaces"] = {PROD: "warn"}
    edited = yaml.safe_dump(catalogue, sort_keys=False)
    try:
        controls.write_text(edited)
        assert wait_until(lambda: cluster.webhook.revision() != before, timeout_s=30)
        result = _create(cluster, obj)
        assert result.returncode == 0, result
        assert warnings(result.stderr)[0].startswith("GDPR-35-DPIA: ")
        assert _last_record(cluster, "reload")["policy_revision"] != before
    finally:
        controls.write_text(original)
        wait_until(lambda: cluster.webhook.revision() == before, timeout_s=30)


def test_shipped_webhook_deployment_passes_restricted_pod_security(cluster):
    # mlgate-system enforces the "restricted" Pod Security Standard (webhook/base/namespace.yaml):
    # the controller manager's Pods for the shipped Deployment are admitted (Pending: no kubelet).
    def pods():  # type: ignore[no-untyped-def]
        out = cluster.kubectl.ok("get", "pods", "-n", "mlgate-system", "-o", "json")
        return json.loads(out)["items"]

    found = wait_until(lambda: len(pods()) == 2, timeout_s=60)
    assert found, cluster.kubectl.ok("get", "events", "-n", "mlgate-system")
    rs = json.loads(cluster.kubectl.ok("get", "rs", "-n", "mlgate-system", "-o", "json"))["items"]
    assert not [
        c for r in rs for c in r.get("status", {}).get("conditions", [])
        if c["type"] == "ReplicaFailure"
    ]  # fmt: skip


def test_seldon_model_against_the_crd_written_from_seldons_docs(cluster):
    # The Go module proxy serves no Seldon Core version, so hack/crds/seldon/ holds Seldon
    # Core 2's Model CRD written by mlgate from Seldon's reference docs (said so in the file).
    # The API server validates the schema before any validating webhook runs: a structurally
    # wrong object never reaches mlgate, a valid unsigned one is denied by it.
    model = {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris", "namespace": PROD},
        "spec": {
            "storageUri": "gs://seldon-models/scv2/samples/mlserver_1.3.5/iris-sklearn",
            "requirements": ["sklearn"],
            "memory": "100Ki",
        },
    }
    _assert_denied(cluster, model, "SC-SIGNED")
    broken = json.loads(json.dumps(model))
    broken["spec"]["replicas"] = "three"
    result = _create(cluster, broken)
    assert result.returncode == 1
    assert result.stderr.startswith(
        'The Model "iris" is invalid: spec.replicas: Invalid value: "string": '
        'spec.replicas in body must be of type integer: "string"'
    ), result.stderr


def test_operator_guide_shows_this_runs_kubectl_output(cluster):
    # Last in this file: the scenarios above wrote the transcripts. The guide shows them
    # verbatim (`python tests/e2e/guide.py` copies them in after a run whose messages changed).
    transcripts = cluster.work / "transcripts"
    text = guide.GUIDE.read_text()
    for name in guide.SHOWN:
        path = transcripts / f"{name}.txt"
        assert path.is_file(), f"{path}: run the whole of tests/e2e/test_admission.py"
        transcript = path.read_text()
        in_guide = guide.shown(text, transcript)
        assert in_guide is not None, f"{guide.GUIDE} shows no block for {name}"
        assert guide.without_decision_ids(in_guide) == guide.without_decision_ids(transcript), (
            f"{guide.GUIDE} shows another {name} output: `python tests/e2e/guide.py` updates it"
        )
