"""Issue 16: mutation testing of the shipped policy data files.

Every key of controls.yaml, params.yaml, exemptions.yaml and trust.yaml is renamed, deleted and
retyped, and every list entry deleted, retyped and renamed, one at a time. Each mutant must be
rejected with file:line, change nothing a decision reads, or be reported by ``mlgate policy
diff`` (as weaker when it is), and the ones the diff calls stricter are evaluated on the policy
tests: none may decide more leniently. This test runs the quick subset (one mutant per class,
every one the diff calls stricter evaluated; MLGATE_MUTATION_EVALUATIONS caps that);
``make mutation`` runs every mutant.
"""

from __future__ import annotations

import os
import re

import pytest

from conftest import POLICIES, REPO
from mlgate.policyset import mutation as m
from mlgate.timeutil import to_ns

# Session-scoped fixtures: xdist interleaves other modules' tests with these on a worker, and a
# module-scoped fixture would be built again after each interleaving (once per worker is enough).

NOW = to_ns("2026-12-01T00:00:00Z", where="test")
_CAP = os.environ.get("MLGATE_MUTATION_EVALUATIONS", "")
EVALUATIONS = int(_CAP) if _CAP else None


@pytest.fixture(scope="session")
def runner() -> m.Runner:
    return m.Runner(POLICIES, REPO / "policy-tests", now_ns=NOW)


@pytest.fixture(scope="session")
def outcomes(runner: m.Runner) -> list[m.Outcome]:
    return m.run(runner, quick=True, max_evaluations=EVALUATIONS)


def test_no_mutant_weakens_a_decision_silently(outcomes: list[m.Outcome]) -> None:
    summary = m.report(outcomes)
    assert summary["silent"] == []
    assert summary["verdicts"]["silent"] == 0
    # Every file is mutated, and every class of outcome occurs (the run can tell them apart).
    assert set(summary["by_file"]) == set(m.FILES)
    for verdict in (m.REJECTED, m.NO_EFFECT, m.FLAGGED):
        assert summary["verdicts"][verdict] > 0, verdict
    assert summary["verdicts"][m.REJECTED] > summary["mutations"] // 2


def test_every_rejected_mutant_names_file_and_line(outcomes: list[m.Outcome]) -> None:
    rejected = [o for o in outcomes if o.verdict == m.REJECTED]
    for o in rejected:
        assert o.where and re.search(r"\.(yaml|rego):\d+$", o.where), (str(o.mutation), o.detail)


def test_renamed_keys_are_rejected_at_their_own_line_with_a_suggestion(
    outcomes: list[m.Outcome],
) -> None:
    renamed = [o for o in outcomes if o.mutation.op == "rename" and "[unknown-key]" in o.detail]
    assert renamed
    for o in renamed:
        assert o.where.endswith(f"{o.mutation.file}:{o.mutation.line}"), (o.mutation, o.where)
        assert "did you mean" in o.detail


def test_the_issue_typos_are_rejected(runner: m.Runner) -> None:
    lines = runner.parsed["params.yaml"][1]
    for pointer, suggestion in (
        ("/defaults/drift/psi_deny", "psi_deny"),
        ("/defaults/metrics/min/accuracy", "accuracy"),
    ):
        mutation = m.Mutation("params.yaml", "rename", pointer, lines.line(pointer))
        outcome = runner.classify(mutation, evaluate=False)
        assert outcome.verdict == m.REJECTED
        assert outcome.where.endswith(f"params.yaml:{mutation.line}")
        assert f"did you mean '{suggestion}'?" in outcome.detail


def test_evaluated_mutants_decide_no_case_more_leniently(
    runner: m.Runner, outcomes: list[m.Outcome]
) -> None:
    if EVALUATIONS == 0:
        pytest.skip("MLGATE_MUTATION_EVALUATIONS=0: no policy-test evaluation requested")
    evaluated = [o for o in outcomes if o.verdict in (m.STRICTER, m.UNCHANGED)]
    assert evaluated and len(evaluated) == runner.evaluations
    unevaluated = [o for o in outcomes if o.verdict == m.UNEVALUATED]
    if EVALUATIONS is None:
        assert unevaluated == []
    # Each evaluated mutant changed the effective policy; the stricter ones changed decisions.
    assert any(o.verdict == m.STRICTER for o in evaluated)


def test_typo_generator_makes_real_typos() -> None:
    assert m.typo("psi_deny") == "psi_dney"
    assert m.typo("accuracy") != "accuracy"
    assert m.retyped(0.25) == "0.25" and m.retyped("x") == 7 and m.retyped(True) == "true"
