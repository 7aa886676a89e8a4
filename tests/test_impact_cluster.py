"""`mlgate impact --cluster`: the objects a cluster scan finds, read through the Kubernetes API
with the client `mlgate scan` uses, replayed under both policy sets. Here the cluster is
exported objects served over TLS (tests/exported_apiserver.py); tests/e2e runs it against a
real kube-apiserver."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

import test_impact
from conftest import EXAMPLES
from error_codes import cli_error
from exported_apiserver import ExportedCluster
from mlgate.cli.main import main
from mlgate.engine import Engine
from mlgate.impact.objects import find_objects
from mlgate.subjects import RequestInfo
from test_impact import _extract
from webhook_support import issue_certs

repo = test_impact.repo  # the policy repository fixture (main, and branch `stricter`)

K8S = EXAMPLES / "k8s"
RELEASE = ("--user", "release-bot", "--group", "mlops-release-managers")


def _exported() -> list[dict]:
    docs = [
        d for path in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d
    ]
    isvc = next(d for d in docs if d["kind"] == "InferenceService")
    broken = copy.deepcopy(isvc)
    broken["metadata"]["name"] = "broken"
    broken["spec"]["predictor"] = "not a mapping"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "chatbot-7d9f-abcde",
            "namespace": "support-prod",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x", "controller": True}
            ],
        },
        "spec": {"containers": [{"name": "c", "image": "vllm/vllm-openai:v0.6.3",
                                 "args": ["--model", "s3://m/x"]}]},
    }  # fmt: skip
    return [*docs, broken, pod]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("exported-cluster")
    namespaces = {ns: {"mlgate.io/environment": "production"} for ns in
                  ("lending-prod", "marketing-prod", "support-prod")}  # fmt: skip
    served = ExportedCluster(_exported(), namespaces, issue_certs(work / "certs")).start()
    served.config = served.kubeconfig(work / "kubeconfig")  # type: ignore[attr-defined]
    yield served
    served.stop()


def _impact(capsys, *args: str) -> tuple[int, dict]:
    code = main(["impact", *args, "-o", "json"])
    return code, json.loads(capsys.readouterr().out)


def _label(f: dict) -> str:
    return f"{f['kind']}/{f['namespace']}/{f['name']}"


def test_cluster_replay_flips_match_a_fresh_evaluation(repo, cluster, capsys, tmp_path) -> None:
    code, report = _impact(capsys, "--cluster", "--kubeconfig", str(cluster.config),
                           "--current", str(repo / "policies"), "--proposed", "git:stricter",
                           *RELEASE)  # fmt: skip
    info = RequestInfo(groups=("mlops-release-managers",), username="release-bot")

    def fresh(policy_dir: Path) -> dict[str, bool]:
        engine = Engine.from_path(policy_dir)
        try:
            return {
                f"{o.subject.kind}/{o.subject.namespace}/{o.subject.name}":
                    engine.evaluate_subject(o.subject).allowed
                for o in find_objects([str(K8S)], info)
            }  # fmt: skip
        finally:
            engine.close()

    before = fresh(repo / "policies")
    after = fresh(_extract(repo, "stricter", tmp_path / "stricter"))
    expected = {label for label in before if before[label] and not after[label]}
    assert expected  # the stricter AUC minimum blocks a running model
    flipped = {_label(f) for f in report["flips"] if f["change"] == "allow->deny"}
    assert flipped == expected and code == 1
    assert {f["origin"] for f in report["flips"]} == {"cluster"}
    assert all(f["ref"].startswith("/apis/") for f in report["flips"])
    # Every model-bearing object of the cluster is accounted for: replayed, or said why not.
    assert report["summary"]["replayed"] == len(before)
    (broken,) = report["not_reproducible"]
    assert broken["name"] == "broken" and broken["reason_code"] == "refused-before-evaluation"
    assert "/spec/predictor" in broken["reason"]
    # The controller's Pod is judged through its owner, not replayed.
    assert any("1 object(s) skipped (controller-made" in n for n in report["notes"])
    assert any(s.startswith(f"{len(before) + 1} object(s) from cluster https://127.0.0.1:")
               for s in report["sources"])  # fmt: skip


def test_cluster_and_exported_files_tell_the_same_story(repo, cluster, capsys) -> None:
    common = ("--current", "git:stricter", "--proposed", str(repo / "policies"), *RELEASE)
    _, from_cluster = _impact(capsys, "--cluster", "--kubeconfig", str(cluster.config), *common)
    _, from_files = _impact(capsys, str(K8S), *common)
    assert from_cluster["flips"], "the reverse change lifts the AUC denials"

    def story(report: dict) -> list[tuple[str, str, tuple[str, ...]]]:
        return sorted((_label(f), f["change"], tuple(f["lifted_denials"])) for f in report["flips"])

    assert story(from_cluster) == story(from_files)


def test_cluster_without_identity_sets_access_aside_and_namespace_filters(
    repo,
    cluster,
    capsys,
) -> None:
    _, report = _impact(capsys, "--cluster", "--kubeconfig", str(cluster.config), "-n",
                        "lending-prod", "--current", str(repo / "policies"),
                        "--proposed", "git:stricter")  # fmt: skip
    lending = [
        o for o in find_objects([str(K8S)], RequestInfo()) if o.subject.namespace == "lending-prod"
    ]
    assert report["summary"]["replayed"] == len(lending) and [
        f["name"] for f in report["not_reproducible"]
    ] == ["broken"]
    # Unknown deployer: ACCESS-DEPLOYER would deny every object on both sides; set aside, the
    # AUC change shows as what it is, allow->deny.
    changes = {(f["namespace"], f["change"]) for f in report["flips"]}
    assert ("lending-prod", "allow->deny") in changes and {ns for ns, _ in changes} == {
        "lending-prod"
    }
    assert not any(
        c.startswith("ACCESS-") for f in report["flips"] for c in f["proposed"]["denied"]
    )
    assert not any("/namespaces/support-prod/" in p for p in cluster.requests[-30:])


def test_cluster_errors_are_clear(tmp_path) -> None:
    err = cli_error(["impact", "--proposed", str(tmp_path), "--namespace", "x", str(K8S)])
    assert err.code == "impact.needs_cluster"
    missing = tmp_path / "no-kubeconfig"
    err = cli_error(["impact", "--cluster", "--kubeconfig", str(missing), "--proposed",
                     str(tmp_path)])  # fmt: skip
    assert (err.code, err.location) == ("cluster.kubeconfig", str(missing))
