"""The OPA conformance runner on a small subset: classification, timeouts, crashes, report."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from tools.conformance import runner as conformance
from tools.conformance.runner import Case, _Worker, default_cases_dir, load_cases, run_cases

CASES = default_cases_dir()
pytestmark = pytest.mark.skipif(
    CASES is None,
    reason="OPA's conformance cases are not in .cache/go/mod: run `make opa` (it downloads the OPA module)",
)


def _pick(category: str, *notes: str) -> list[Case]:
    assert CASES is not None
    cases = load_cases(CASES, [category])
    return [c for c in cases if not notes or c.note in notes]


def test_a_category_passes_and_yaml_is_read_like_opa_reads_it() -> None:
    # indexing/constant-in-ref has a data key `on:`; YAML 1.1 would turn it into true.
    outcomes = run_cases(_pick("aggregates") + _pick("indexing"), jobs=2, timeout=20)
    statuses = {o.note: o.status for o in outcomes}
    assert statuses["a local bound to a string in a data reference"] == "passed"
    assert sum(s == "passed" for s in statuses.values()) >= 0.9 * len(statuses)


def test_unsupported_builtins_are_classified_without_running() -> None:
    outcomes = run_cases(_pick("netcidrcontains")[:3], jobs=1, timeout=20)
    assert {o.status for o in outcomes} == {"unsupported"}
    assert "net.cidr_contains" in outcomes[0].detail


def test_a_hanging_case_times_out_and_the_runner_carries_on() -> None:
    hang = _pick("replacen", "replacen/semantics/empty key/empty string")
    after = _pick("aggregates")[:2]
    assert hang, "the hanging strings.replace_n case moved"
    # The replacement worker's start-up is not counted in the next case's timeout, so a loaded
    # machine slows the run down but does not turn the following cases into timeouts.
    # The two cases after it take milliseconds; 3 s bounds the spinning hang's cost to the suite.
    outcomes = run_cases(hang + after, jobs=1, timeout=3)
    assert [o.status for o in outcomes] == ["timeout", "passed", "passed"]
    assert 3 <= outcomes[0].seconds < 3 + 5  # the hang was cut at its timeout


def test_a_crashed_worker_is_reported_and_replaced() -> None:
    hang = _pick("replacen", "replacen/semantics/empty key/empty string")[0]
    worker = _Worker()
    assert worker.wait_ready() is None  # crash it mid-case, not during start-up
    result: list[tuple[str, str]] = []
    thread = threading.Thread(target=lambda: result.append(worker.run(hang, 30)))
    thread.start()
    time.sleep(0.5)
    worker.proc.kill()  # what a segfault in rego-cpp looks like to the runner
    thread.join(timeout=10)
    worker.kill()
    assert result and result[0][0] == "crashed"
    assert "signal 9" in result[0][1]


def test_report_lists_categories_and_mlgate_relevant_divergences(tmp_path: Path) -> None:
    out = tmp_path / "conformance.md"
    code = conformance.main(
        ["--category", "sprintf", "--category", "semverisvalid", "--out", str(out), "--jobs", "2"]
    )
    assert code == 0
    text = out.read_text(encoding="utf-8")
    assert "| sprintf |" in text and "| semverisvalid |" in text
    assert "## Divergences that matter for mlgate's policies" in text
    assert "semver.is_valid" in text  # a rego-cpp divergence, listed with its case


def test_called_builtins_ignores_strings_and_comments() -> None:
    found = conformance.called_builtins(['x := count(y) # lower(z)\ny := "sprintf(1)"'])
    assert found == {"count"}


def test_wasm_runner_scopes_cases_and_reads_query_variables() -> None:
    from tools.conformance.wasm import case_modules, query_variables

    assert query_variables('data.test.p[x] = y; count(z) > 1; s := "a b"') == ["x", "y", "z", "s"]
    case = Case(
        category="c",
        file="f",
        note="n",
        query="data.test.p = x",
        modules=['package test\n\np := data.base.v if input.k == "data.x"\n'],
    )
    modules, entry = case_modules(case, "c7")
    assert entry == "c7/mlgate_q/result"
    assert "package c7.test" in modules["c7/m0.rego"]
    assert 'data.c7.base.v if input.k == "data.x"' in modules["c7/m0.rego"]  # strings kept
    assert 'result contains {"x": x} if {\n\tdata.c7.test.p = x\n}' in modules["c7/q.rego"]


def test_wasm_runner_on_a_category() -> None:
    from tools.conformance import wasm as conformance_wasm

    from opa_support import OPA

    if OPA is None:
        pytest.skip("OPA binary not found: run `make opa`")
    outcomes = conformance_wasm.run_cases(_pick("aggregates"), jobs=1, opa=OPA)
    statuses = [o.status for o in outcomes]
    assert statuses.count("passed") >= 0.9 * len(statuses)
