"""`mlgate check` lists what it skipped (with reasons), reads `kind: List`, and a namespace
can require declared models (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mlgate.cli.main import main
from mlgate.subjects import RequestInfo, subject_from_object
from serving_shapes import SHAPES

VLLM = next(o for i, o, _ in SHAPES if i == "vllm-deployment-shell")
GRAPH = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "InferenceGraph",
         "metadata": {"name": "g"}, "spec": {"nodes": {"root": {"routerType": "Sequence", "steps": []}}}}  # fmt: skip
PIPELINE = {"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Pipeline", "metadata": {"name": "p"},
            "spec": {"steps": [{"name": "iris"}], "output": {"steps": ["iris"]}}}  # fmt: skip
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}  # fmt: skip
WEB = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ml-prod"},
       "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}  # fmt: skip


def write(tmp_path: Path, name: str, *docs: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return path


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["check", "--output", "json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_skipped_documents_are_listed_with_reasons_and_counted(tmp_path, capsys) -> None:
    path = write(tmp_path, "mixed.yaml", VLLM, SERVICE, GRAPH, WEB)
    code, out = run_json(capsys, str(path))
    assert code == 1
    assert out["summary"]["evaluated"] == 1 and out["summary"]["skipped"] == 3
    skipped = {s["kind"]: s for s in out["skipped"]}
    assert set(skipped) == {"Service", "InferenceGraph", "Deployment"}
    assert "InferenceServices" in skipped["InferenceGraph"]["reason"]
    assert "no model reference" in skipped["Deployment"]["reason"]
    assert skipped["Service"]["line"] > 1


def test_table_and_sarif_show_the_skipped_documents(tmp_path, capsys) -> None:
    path = write(tmp_path, "mixed.yaml", VLLM, SERVICE)
    assert main(["check", str(path)]) == 1
    table = capsys.readouterr().out
    assert "SKIPPED  Service/s" in table and "1 evaluated, 1 skipped" in table
    assert main(["check", "--output", "sarif", str(path)]) == 1
    sarif = json.loads(capsys.readouterr().out)
    notes = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "mlgate/skipped"]
    assert len(notes) == 1 and notes[0]["kind"] == "notApplicable"


def test_files_with_only_model_free_serving_objects_are_not_errors(tmp_path, capsys) -> None:
    path = write(tmp_path, "graph.yaml", GRAPH, PIPELINE)
    code, out = run_json(capsys, str(path))
    assert code == 0
    assert out["summary"] == {**out["summary"], "evaluated": 0, "skipped": 2}


def test_kind_list_items_are_each_evaluated(tmp_path, capsys) -> None:
    export = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
              "items": [VLLM, SERVICE]}  # fmt: skip
    code, out = run_json(capsys, str(write(tmp_path, "export.yaml", export)))
    assert code == 1
    assert [r["kind"] for r in out["results"]] == ["Deployment"]
    assert out["skipped"][0]["path"] == "/items/1"


def test_namespace_can_require_declared_models(tmp_path, capsys) -> None:
    path = write(tmp_path, "web.yaml", WEB)
    label = "--namespace-label=mlgate.io/require-declared-models=true"
    code, out = run_json(capsys, label, str(path))
    assert code == 1
    assert out["results"][0]["decision"]["violations"][0]["control"] == "SC-MODEL-DECLARED"
    declared = {
        **WEB,
        "metadata": {**WEB["metadata"], "annotations": {"mlgate.io/model-uri": "none"}},
    }
    code, out = run_json(capsys, label, str(write(tmp_path, "declared.yaml", declared)))
    assert code == 0 and out["summary"]["skipped"] == 1
    # Without the label the same workload is simply not a model deployment.
    assert subject_from_object(WEB, RequestInfo()) is None
