"""`mlgate check`: exit codes, output formats and one-line errors for bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from error_codes import cli_error
from mlgate.cli.main import main

UNSIGNED = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: unsigned
  namespace: ml-prod
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: s3://models/unsigned
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_unsigned_production_model_is_denied(tmp_path, capsys) -> None:
    path = write(tmp_path, "isvc.yaml", UNSIGNED)
    code, out, _ = run(capsys, "check", str(path), "--output", "json")
    assert code == 1
    report = json.loads(out)
    decision = report["results"][0]["decision"]
    assert decision["allowed"] is False
    assert "SC-SIGNED" in {v["control"] for v in decision["violations"]}
    assert report["summary"]["denied"] == 1


def test_table_shows_control_message_regulation_and_fix(tmp_path, capsys) -> None:
    path = write(tmp_path, "isvc.yaml", UNSIGNED)
    code, out, _ = run(capsys, "check", str(path))
    assert code == 1
    assert "DENIED" in out and "SC-SIGNED" in out
    assert "regulation:" in out and "EU AI Act" in out
    assert "fix:" in out


@pytest.mark.parametrize("fmt", ["junit", "sarif", "github"])
def test_machine_formats_are_well_formed(tmp_path, capsys, fmt) -> None:
    path = write(tmp_path, "isvc.yaml", UNSIGNED)
    code, out, _ = run(capsys, "check", str(path), "--output", fmt)
    assert code == 1
    if fmt == "junit":
        root = ET.fromstring(out)
        assert root.find("testsuite").get("failures") == "1"
        assert "SC-SIGNED" in root.find("testsuite/testcase/failure").get("message")
    elif fmt == "sarif":
        sarif = json.loads(out)
        assert sarif["version"] == "2.1.0"
        results = sarif["runs"][0]["results"]
        assert any(r["ruleId"] == "SC-SIGNED" and r["level"] == "error" for r in results)
        assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    else:
        assert f"::error file={path},line=1,title=SC-SIGNED::" in out


@pytest.mark.parametrize(
    ("name", "text", "code", "where"),
    [
        ("broken.yaml", "kind: InferenceService\nmetadata: [unclosed\n", "yaml.invalid", ":3"),
        ("tabs.yaml", "a: 1\n\tb: 2\n", "yaml.invalid", ":2"),
        ("list.yaml", "- 1\n- 2\n", "input.not_an_object", ":1"),
        ("broken.json", '{"kind": "InferenceService",}', "json.invalid", ":1"),
        ("typo.yaml", "apiVersion: mlgate.io/v1\nkind: ModelManifes\n", "input.unknown_kind", ":1"),
        ("types.yaml",
         UNSIGNED.replace("storageUri: s3://models/unsigned", "storageUri: [1, 2]"),
         "input.not_a_string", ":1:/spec/predictor/model/storageUri"),
        ("bin.yaml", "\udcff", "file.not_utf8", ""),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, name, text, code, where) -> None:
    """One line on stderr, exit 2 (cli_error checks both), naming the file, line or path."""
    path = tmp_path / name
    if text == "\udcff":
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(text)
    err = cli_error(["check", str(path)])
    assert (err.code, err.location) == (code, f"{path}{where}")


def test_missing_file_and_bad_flag(tmp_path, capsys) -> None:
    err = cli_error(["check", str(tmp_path / "nope.yaml")])
    assert (err.code, err.location) == ("file.not_found", str(tmp_path / "nope.yaml"))
    with pytest.raises(SystemExit) as info:
        main(["check", "x.yaml", "--output", "xml"])
    assert info.value.code == 2


def test_deeply_nested_yaml_is_an_error_not_a_crash(tmp_path, capsys) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 20000 + "]" * 20000 + "\n")
    code, _, err = run(capsys, "check", str(path))
    assert code == 2
    assert "deep.yaml" in err and "Traceback" not in err


def test_multi_document_file_reports_each_object(tmp_path, capsys) -> None:
    other = UNSIGNED.replace("name: unsigned", "name: second")
    path = write(
        tmp_path,
        "multi.yaml",
        UNSIGNED + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n" + other,
    )
    code, out, _ = run(capsys, "check", str(path), "--output", "json")
    report = json.loads(out)
    assert code == 1
    assert [(r["name"], r["line"]) for r in report["results"]] == [("unsigned", 1), ("second", 16)]


def test_eval_prints_a_decision_and_rejects_invalid_input(tmp_path, capsys) -> None:
    from conftest import minimal_input

    good = write(tmp_path, "in.json", json.dumps(minimal_input()))
    code, out, _ = run(capsys, "eval", "--input", str(good))
    assert code == 1 and json.loads(out)["allowed"] is False
    doc = minimal_input()
    doc["request"]["user"]["groups"] = "admins"
    bad = write(tmp_path, "bad.json", json.dumps(doc))
    code, _, err = run(capsys, "eval", "--input", str(bad))
    assert code == 2 and "/request/user/groups" in err
