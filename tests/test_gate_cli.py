"""``mlgate gate`` in-process: exit codes, table and JSON output, the evidence document.

The evidence is decided by the engine's promotion gates: these tests read which controls it
denies from the table's ``✗ CONTROL`` lines (``denied``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from error_codes import cli_error, line_of, problem_codes
from mlgate.cli.main import main
from mlgate.gates.evidence import compute_gate_evidence

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data"
MODEL = ["--label", "label", "--prediction", "prediction", "--score", "score"]
ALL = [*MODEL, "--group", "sex", "--period", "month", "--bootstrap", "200"]


def run(capsys, *argv: str | Path) -> tuple[int, str, str]:
    code = main(["gate", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def denied(out: str) -> set[str]:
    """The controls the engine's promotion decision denies, read from the table output."""
    return set(re.findall(r"^  ✗ ([A-Z0-9-]+) ", out, re.M))


def policies_with(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the shipped policy set whose params.yaml has ``replacements`` applied."""
    policies = tmp_path / "policies"
    shutil.rmtree(policies, ignore_errors=True)
    shutil.copytree(REPO / "policies", policies)
    params = (REPO / "policies" / "params.yaml").read_text()
    for old, new in replacements:
        assert old in params, old
        params = params.replace(old, new)
    (policies / "params.yaml").write_text(params)
    return policies


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_stable_example_passes_with_a_table(capsys) -> None:
    code, out, err = run(
        capsys,
        "--reference",
        DATA / "reference.csv",
        "--current",
        DATA / "current-stable.csv",
        *ALL,
    )
    assert code == 0, err
    assert "PROMOTION ALLOWED" in out and denied(out) == set()
    assert re.search(r"^  age +numeric +\d\.\d{4} +KS ", out, re.MULTILINE)
    assert "dataset drift: no" in out and "four-fifths rule: pass" in out
    assert re.search(r"Stability by 'month' \(tolerance [\d.]+\): stable", out)


def test_drifted_example_denies_and_names_the_drifting_features(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "evidence.json"
    code, out, _ = run(
        capsys,
        "--reference", DATA / "reference.csv",
        "--current", DATA / "current-drifted.csv",
        *ALL,
        "--out", out_file,
    )  # fmt: skip
    assert code == 1
    # No tier given: the strictest parameters. The model also degrades in the last month.
    assert denied(out) == {"GATE-DRIFT", "GATE-METRICS", "GATE-STABILITY"}
    (drift_line,) = [line for line in out.splitlines() if line.startswith("  ✗ GATE-DRIFT ")]
    for name in ("age", "income", "region"):
        assert name in drift_line
        assert re.search(rf"^  {name} .* deny +yes$", out, re.M)
    assert re.search(r"^  credit_score .* none +no$", out, re.M)
    evidence = json.loads(out_file.read_text())
    assert evidence["drift"]["drifted_features"][:2] == ["age", "income"]
    assert "region" in evidence["drift"]["drifted_features"]
    assert evidence["stability"]["stable"] is False  # the model degrades in the last month


def test_json_output_has_the_documented_shape(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "e.json"
    code, out, _ = run(
        capsys,
        "--reference", DATA / "reference.csv",
        "--current", DATA / "current-stable.csv",
        *ALL, "--output", "json", "--out", out_file, "--seed", "3",
    )  # fmt: skip
    assert code == 0
    evidence = json.loads(out)
    assert json.loads(out_file.read_text()) == evidence
    json.dumps(evidence, allow_nan=False)  # only finite numbers
    drift = evidence["drift"]
    assert set(drift) >= {
        "thresholds", "features", "drifted_features", "drift_share", "dataset_drift",
        "max_psi", "n_reference", "n_current",
    }  # fmt: skip
    assert drift["thresholds"] == {
        "psi_warn": 0.1, "psi_deny": 0.25, "ks_pvalue": 0.05, "chi2_pvalue": 0.05,
        "dataset_drift_share": 0.5, "bins": 10,
    }  # fmt: skip
    assert set(drift["features"]["age"]) >= {
        "kind", "psi", "ks_statistic", "ks_pvalue", "js_distance", "drifted", "severity"
    }  # fmt: skip
    assert set(drift["features"]["region"]) >= {
        "kind", "psi", "chi2_statistic", "chi2_pvalue", "js_distance", "drifted", "severity"
    }  # fmt: skip
    assert drift["features"]["region"]["kind"] == "categorical"
    assert drift["n_reference"] == drift["n_current"] == 2000
    fairness = evidence["fairness"]
    assert fairness["group_column"] == "sex" and set(fairness["groups"]) == {"F", "M"}
    assert set(fairness["groups"]["F"]) >= {"n", "selection_rate", "tpr", "fpr", "accuracy"}
    for key in ("demographic_parity_difference", "demographic_parity_ratio",
                "four_fifths_rule", "equal_opportunity_difference", "small_groups", "notes"):  # fmt: skip
        assert key in fairness
    assert list(evidence["metrics"]) == ["accuracy", "precision", "recall", "f1", "auc"]
    assert set(evidence["metrics"]["auc"]) == {"value", "ci_low", "ci_high", "n"}
    stability = evidence["stability"]
    assert stability["period_column"] == "month"
    assert set(stability["periods"]) == {"2026-01", "2026-02", "2026-03"}
    assert set(stability) >= {"max_drop", "stable", "tolerance"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", evidence["generated_at"])
    assert evidence["inputs"] == {
        "reference": str(DATA / "reference.csv"),
        "current": str(DATA / "current-stable.csv"),
    }
    assert evidence["settings"]["seed"] == 3 and evidence["settings"]["bootstrap"] == 200


def test_evidence_fits_the_input_schema() -> None:
    import jsonschema

    schema = json.loads((REPO / "schemas" / "input.schema.json").read_text())
    evidence = compute_gate_evidence(
        reference=DATA / "reference.csv",
        current=DATA / "current-drifted.csv",
        label="label", prediction="prediction", group="sex", period="month",
        n_bootstrap=50,
    )  # fmt: skip
    subschema = {**schema["properties"]["evidence"], "$defs": schema.get("$defs", {})}
    jsonschema.validate(evidence, subschema)
    # without --score the AUC comes from hard predictions, and says so
    assert any("hard 0/1 predictions" in note for note in evidence["notes"])


def test_sections_only_when_requested(capsys) -> None:
    ref, cur = DATA / "reference.csv", DATA / "current-stable.csv"
    evidence = compute_gate_evidence(reference=ref, current=cur)
    assert set(evidence) == {"drift", "generated_at", "inputs"}
    # default features: shared columns except the role columns
    assert "label" in evidence["drift"]["features"]  # no --label given: it is a feature
    evidence = compute_gate_evidence(reference=ref, current=cur, label="label", score="score")
    assert "label" not in evidence["drift"]["features"]
    assert "score" not in evidence["drift"]["features"]
    assert set(evidence) >= {"drift", "metrics"} and "fairness" not in evidence
    only_metrics = compute_gate_evidence(current=cur, label="label", prediction="prediction")
    assert "drift" not in only_metrics and "metrics" in only_metrics
    assert only_metrics["inputs"] == {"current": str(cur)}


def test_feature_selection_and_categorical_override(tmp_path: Path) -> None:
    rows = [[i % 5, i % 2] for i in range(200)]
    ref = write_csv(tmp_path / "r.csv", ["code", "flag"], rows)
    cur = write_csv(tmp_path / "c.csv", ["code", "flag", "extra"], [[*r, 1] for r in rows])
    evidence = compute_gate_evidence(reference=ref, current=cur, categorical=["code"])
    assert list(evidence["drift"]["features"]) == ["code", "flag"]  # 'extra' is not shared
    assert evidence["drift"]["features"]["code"]["kind"] == "categorical"
    assert evidence["drift"]["features"]["flag"]["kind"] == "numeric"
    only = compute_gate_evidence(reference=ref, current=cur, features=["flag"])
    assert list(only["drift"]["features"]) == ["flag"]


def fairness_files(tmp_path: Path, selected_b: int) -> Path:
    """Exact predictions (every metric passes), group a selected at 0.5, b at selected_b %."""
    rows = []
    for i in range(100):
        rows.append(["a", int(i < 50), int(i < 50)])
        rows.append(["b", int(i < selected_b), int(i < selected_b)])
    return write_csv(tmp_path / "f.csv", ["grp", "label", "prediction"], rows)


def test_four_fifths_failure_exits_1(capsys, tmp_path: Path) -> None:
    failing = fairness_files(tmp_path, selected_b=30)  # 0.3 / 0.5 = 0.6
    code, out, _ = run(
        capsys, "--current", failing, "--label", "label", "--prediction", "prediction",
        "--group", "grp", "--bootstrap", "20",
    )  # fmt: skip
    assert code == 1
    assert "four-fifths rule: FAIL" in out
    assert denied(out) == {"GATE-FAIRNESS"}
    passing = fairness_files(tmp_path, selected_b=45)  # 0.9
    code, out, _ = run(
        capsys, "--current", passing, "--label", "label", "--prediction", "prediction",
        "--group", "grp", "--bootstrap", "20",
    )  # fmt: skip
    assert code == 0 and denied(out) == set()


def test_dataset_drift_alone_exits_1(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    ref = write_csv(tmp_path / "r.csv", ["a", "b"], rng.normal(size=(3000, 2)).round(4).tolist())
    cur_rows = (rng.normal(size=(3000, 2)) + np.array([0.15, 0.15])).round(4).tolist()
    cur = write_csv(tmp_path / "c.csv", ["a", "b"], cur_rows)
    code, out, _ = run(capsys, "--reference", ref, "--current", cur, "--output", "json")
    evidence = json.loads(out)
    assert evidence["drift"]["max_psi"] < 0.1  # small shifts: no severity at all ...
    assert evidence["drift"]["dataset_drift"] is True  # ... but every feature drifted
    assert code == 1
    code, out, _ = run(capsys, "--reference", ref, "--current", cur)
    assert code == 1 and denied(out) == {"GATE-DRIFT"}
    code, out, _ = run(
        capsys, "--reference", ref, "--current", cur, "--risk-tier", "limited", "-o", "json"
    )
    violations = json.loads(out)["decision"]["violations"]
    drift = [v["path"] for v in violations if v["control"] == "GATE-DRIFT"]
    assert code == 1 and drift == ["/evidence/drift/drift_share"]


def test_policies_dir_sets_the_thresholds(capsys, tmp_path: Path) -> None:
    # The same params.yaml sets the evidence's severities and the policy's thresholds.
    policies = policies_with(
        tmp_path,
        ("psi_warn: 0.1 ", "psi_warn: 0.5 "),
        ("psi_deny: 0.25 ", "psi_deny: 0.9 "),
        ("dataset_drift_share: 0.5 ", "dataset_drift_share: 0.9 "),
    )
    argv = ["--reference", DATA / "reference.csv", "--current", DATA / "current-drifted.csv"]
    code, out, _ = run(capsys, *argv, "--policies", policies)
    assert code == 0  # PSI ~0.45 is under this policy's warn level; 3 of 8 < 0.9
    assert re.search(r"^  age .* none +yes$", out, re.M)  # KS still flags it
    assert "share >= 0.9" in out
    code, out, _ = run(capsys, *argv)  # the shipped thresholds deny the same data
    assert code == 1 and denied(out) == {"GATE-DRIFT"}
    policies = policies_with(tmp_path, ("psi_deny: 0.25 ", "psi_deny: -1 "))
    err = cli_error(["gate", *map(str, argv), "--policies", str(policies)])
    params = policies / "params.yaml"
    assert problem_codes(err) == [
        ("invalid", f"{params}:{line_of(params.read_text(), 'psi_deny:')}")
    ]


def test_stability_tolerance_from_params_unless_given(capsys, tmp_path: Path) -> None:
    policies = policies_with(tmp_path, ("max_metric_drop: 0.05", "max_metric_drop: 0.1"))
    argv = [
        "--current", DATA / "current-drifted.csv", *MODEL, "--period", "month",
        "--bootstrap", "0", "--policies", policies, "--output", "json",
    ]  # fmt: skip
    shipped = (REPO / "policies" / "params.yaml").read_text()
    code, out, _ = run(capsys, *argv)
    stability = json.loads(out)["stability"]
    assert stability["tolerance"] == 0.1
    assert max(stability["max_drop"].values()) < 0.1 and stability["stable"] is True
    code, out, _ = run(capsys, *argv, "--tolerance", "0.02")
    assert json.loads(out)["stability"]["stable"] is False  # accuracy drops ~0.027
    (policies / "params.yaml").unlink()
    code, _, _ = run(capsys, *argv, "--out", tmp_path / "e.json")
    # No params.yaml: 0.02 for the evidence (written first); the policy set cannot load.
    assert (
        code == 2
        and json.loads((tmp_path / "e.json").read_text())["stability"]["tolerance"] == 0.02
    )
    params = policies / "params.yaml"
    params.write_text(shipped.replace("max_metric_drop: 0.05", "max_metric_drop: high"))
    err = cli_error(["gate", *map(str, argv)])
    line = line_of(params.read_text(), "max_metric_drop:")
    assert problem_codes(err) == [("wrong-type", f"{params}:{line}")]


def test_npy_inputs_with_column_names(capsys, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    np.save(tmp_path / "ref.npy", rng.normal(size=(500, 3)))
    np.save(tmp_path / "cur.npy", rng.normal(size=(400, 3)) + np.array([0, 0, 2]))
    code, out, _ = run(
        capsys, "--reference", tmp_path / "ref.npy", "--current", tmp_path / "cur.npy",
        "--columns", "x,y,z", "--output", "json",
    )  # fmt: skip
    evidence = json.loads(out)
    assert code == 1 and evidence["drift"]["drifted_features"] == ["z"]
    assert evidence["drift"]["n_reference"] == 500 and evidence["drift"]["n_current"] == 400


def test_input_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    """Each exits 2 with one line (cli_error checks it) and names the file and line it can."""
    ref = DATA / "reference.csv"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("age,income\n1,2\n3\n")
    # a value that does not fit the kind the reference decided, reported on the current file
    text = (DATA / "current-stable.csv").read_text().splitlines()
    fields = text[5].split(",")
    fields[0] = "abc"
    text[5] = ",".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    other = write_csv(tmp_path / "other.csv", ["p", "q"], [[1, 2]])
    missing, none = tmp_path / "missing.csv", tmp_path / "none"
    for argv, code, location in [
        (["--reference", ref, "--current", missing], "data.not_found", missing),
        (["--reference", ragged, "--current", ref], "data.field_count", f"{ragged}:3"),
        (["--reference", ref, "--current", bad], "data.not_a_number", f"{bad}:6"),
        (["--reference", ref, "--current", empty], "data.no_header", empty),
        (["--reference", ref, "--current", other], "gate.no_shared_features", None),
        (["--reference", ref, "--current", ref, "--features", "age,nope"],
         "data.no_such_column", ref),
        (["--current", ref, "--group", "sex"], "gate.group_needs_model", None),
        (["--current", ref], "gate.nothing_to_compute", None),
        (["--current", ref, "--label", "lbl", "--prediction", "prediction"],
         "data.no_such_column", ref),
        (["--current", ref, "--label", "num_accounts", "--prediction", "prediction"],
         "data.not_binary", ref),
        (["--current", ref, *MODEL, "--bootstrap", "-1"], "gate.bad_bootstrap", None),
        (["--reference", ref, "--current", ref, "--policies", none], "policy.not_found", none),
    ]:  # fmt: skip
        err = cli_error(["gate", *map(str, argv)])
        assert (err.code, err.location) == (code, str(location) if location else None), argv


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["gate", "--reference", "x.csv"])  # --current is required
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["gate", "--current", "x.csv", "--features", "a,,b"])
    assert info.value.code == 2
    capsys.readouterr()


def test_probability_predictions_are_thresholded(tmp_path: Path) -> None:
    rows = [[i % 2, 0.9 if i % 2 else 0.2] for i in range(100)]
    rows[0][1] = 0.7  # one false positive at the default threshold
    path = write_csv(tmp_path / "p.csv", ["label", "proba"], rows)
    evidence = compute_gate_evidence(current=path, label="label", prediction="proba")
    assert evidence["metrics"]["accuracy"]["value"] == pytest.approx(0.99)
    assert any("holds probabilities" in note for note in evidence["notes"])
    strict = compute_gate_evidence(current=path, label="label", prediction="proba", threshold=0.8)
    assert strict["metrics"]["accuracy"]["value"] == 1.0
