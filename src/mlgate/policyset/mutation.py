"""Mutation testing of the policy data files: can any one-edit typo weaken a control silently?

Every key of controls.yaml, params.yaml, exemptions.yaml and trust.yaml is renamed (two
letters swapped, the typo an officer makes), deleted and retyped, and every list entry is
deleted, retyped and (strings) renamed, one at a time. Each mutant is classified:

- ``rejected``: the checks that ``mlgate policy check`` and every loader run refuse it, with a
  ``file:line``;
- ``no-effect``: accepted, and the decision-relevant policy (resolved parameters, freeze
  windows, environments, each control's applicability and enforcement, exemptions' control,
  scope and expiry, trusted signers) is identical, so no decision can change (only
  explanatory text such as titles, regulations or remediation did);
- ``unchanged``: accepted and different, but every policy-test decision is the same (evaluated);
- ``diff-flagged``: accepted, and ``mlgate policy diff`` flags it as weakening: the reviewer
  sees it and ``--fail-on-weaken`` stops it;
- ``stricter``: accepted, the diff reports no weakening, and the policy tests confirm it: some
  decisions change, none more leniently;
- ``unevaluated`` (quick runs only): like ``stricter`` per the diff, but the evaluation budget
  was spent;
- ``silent``: accepted, and either the diff shows nothing although the effective policy
  changed, or some policy-test decision is more lenient while the diff reports no weakening.
  Must be zero.

Mutants are built on the parsed documents (no re-parsing), checked in-process and, in the full
run, evaluated on the policy tests with the real Engine. ``python -m mlgate.policyset.mutation
[--quick]`` prints the counts; ``--quick`` takes one mutant per class (see ``run``).

Over 400 lines because generating the one-edit mutations and classifying each outcome (rejected,
no effect, flagged by diff, caught by a test) are one experiment, run by ``make mutation``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError, PolicyError
from mlgate.policyset.diff import diff_policies
from mlgate.policyset.policyset import PolicyData, PolicySet, check_policy_data, load_policy_set
from mlgate.policyset.validation import PolicyDataError
from mlgate.policyset.yamlfile import LineMap, load_yaml_file, pointer_of

FILES = ("controls.yaml", "params.yaml", "exemptions.yaml", "trust.yaml")
REJECTED, NO_EFFECT, UNCHANGED, FLAGGED, STRICTER, UNEVALUATED, SILENT = (
    "rejected",
    "no-effect",
    "unchanged",
    "diff-flagged",
    "stricter",
    "unevaluated",
    "silent",
)
VERDICTS = (REJECTED, NO_EFFECT, UNCHANGED, FLAGGED, STRICTER, UNEVALUATED, SILENT)


@dataclass(frozen=True)
class Mutation:
    file: str
    op: str  # rename | delete | retype
    pointer: str  # the key or list entry mutated
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line or '?'} {self.op} {self.pointer}"


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    verdict: str
    detail: str
    where: str | None = None  # file:line of the error, for rejected mutants


# --------------------------------------------------------------------------------------------
# generating mutants


def typo(word: str) -> str:
    """Two adjacent letters swapped in the middle of the word (``psi_deny`` -> ``psi_dney``)."""
    letters = [i for i in range(1, len(word) - 1) if word[i].isalpha() and word[i + 1].isalpha()]
    if not letters:
        return word + "x"
    i = letters[len(letters) // 2]
    swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return swapped if swapped != word else word + "x"


def retyped(value: Any) -> Any:
    """A value of another JSON type that a careless edit could produce."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 7
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return "enabled"
    return "null"


def mutations(file: str, document: Any, lines: LineMap) -> Iterator[Mutation]:
    def walk(node: Any, pointer: str) -> Iterator[Mutation]:
        if isinstance(node, dict):
            for key, value in node.items():
                child = f"{pointer}/{pointer_of([key])[1:]}"
                line = lines.line(child)
                for op in ("rename", "delete", "retype"):
                    yield Mutation(file, op, child, line)
                yield from walk(value, child)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                child = f"{pointer}/{i}"
                line = lines.line(child)
                ops: tuple[str, ...] = (
                    ("delete", "retype", "rename") if isinstance(value, str) else ("delete",)
                )
                if not isinstance(value, dict | list | str):
                    ops = ("delete", "retype")
                for op in ops:
                    yield Mutation(file, op, child, line)
                yield from walk(value, child)

    yield from walk(document, "")


def _parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


class MutantLines(LineMap):
    """The line map of the mutated file: a pointer into the mutant is translated back to the
    pointer of the same node in the original (a renamed key, entries after a deleted one)."""

    def __init__(self, original: LineMap, mutation: Mutation, new_key: str | None) -> None:
        super().__init__(original.path, {})
        self._original = original
        self._mutation = mutation
        self._new_key = new_key

    def _translate(self, pointer: str) -> str:
        parent, _, last = self._mutation.pointer.rpartition("/")
        if self._new_key is not None:
            renamed = f"{parent}/{pointer_of([self._new_key])[1:]}"
            if pointer == renamed or pointer.startswith(renamed + "/"):
                return self._mutation.pointer + pointer[len(renamed) :]
        elif self._mutation.op == "delete" and last.isdigit() and pointer.startswith(parent + "/"):
            index, _, rest = pointer[len(parent) + 1 :].partition("/")
            if index.isdigit() and int(index) >= int(last):
                return f"{parent}/{int(index) + 1}" + (f"/{rest}" if rest else "")
        return pointer

    def line(self, pointer: str) -> int | None:
        return self._original.line(self._translate(pointer))


def apply(document: Any, lines: LineMap, mutation: Mutation) -> tuple[Any, LineMap]:
    """The mutated copy of ``document`` and the line map of the mutated file."""
    out = copy.deepcopy(document)
    *parents, last = _parts(mutation.pointer)
    node = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    new_key = None
    if isinstance(node, list):
        i = int(last)
        if mutation.op == "delete":
            del node[i]
        elif mutation.op == "retype":
            node[i] = retyped(node[i])
        else:
            node[i] = typo(node[i])
    elif mutation.op == "delete":
        del node[last]
    elif mutation.op == "retype":
        node[last] = retyped(node[last])
    else:
        # Keep the key's position, so the mutant reads like the edited file.
        items = list(node.items())
        node.clear()
        new_key = typo(last)
        for k, v in items:
            node[new_key if k == last else k] = v
    return out, MutantLines(lines, mutation, new_key)


# --------------------------------------------------------------------------------------------
# classifying mutants


def decision_relevant(data: PolicyData, trust: Any) -> str:
    """Everything a decision depends on, as canonical JSON (explanatory text left out)."""
    controls = {
        cid: [
            list(c.tiers),
            list(c.environments),
            c.enforcement,
            c.environment_overrides,
            c.namespace_overrides,
        ]
        for cid, c in data.catalogue.controls.items()
    }
    exemptions = [
        [e.id, e.control, e.namespace, e.model, e.environment, e.expires_ns]
        for e in data.exemptions
    ]
    signers: list[Any] | None = None
    if isinstance(trust, dict):
        authorities = [
            {k: v for k, v in a.items() if k != "description"}
            for a in trust.get("authorities", [])
            if isinstance(a, dict)
        ]
        signers = [authorities, trust.get("sources")]
    return json.dumps([data.params, controls, exemptions, signers], sort_keys=True, default=str)


class Runner:
    """Holds the parsed shipped files, the baseline policy set and its policy-test decisions."""

    def __init__(self, policy_dir: Path, tests_dir: Path, *, now_ns: int) -> None:
        from mlgate.cli.cmd_policy import rego_references
        from mlgate.policytest.cases import Suite

        self.policy_dir = policy_dir
        self.now_ns = now_ns
        self.parsed = {
            name: load_yaml_file(policy_dir / name)
            for name in FILES
            if (policy_dir / name).exists()
        }
        self.policy_set = load_policy_set(policy_dir)
        self.baseline = self._check(self.parsed, "")
        self.baseline_key = decision_relevant(self.baseline, self.parsed["trust.yaml"][0])
        self.rego_refs = {
            r.control: f"{r.file}:{r.line}"
            for r in reversed(rego_references(self.policy_set.modules, policy_dir))
        }
        self.cases = Suite(tests_dir).load()
        self.evaluations = 0
        self._baseline_decisions: list[dict[str, Any]] | None = None

    def _check(self, parsed: dict[str, tuple[Any, LineMap]], changed: str) -> PolicyData:
        """The same checks as every loader; files other than ``changed`` reuse the baseline."""
        reuse = changed and changed != "controls.yaml"
        return check_policy_data(
            parsed["controls.yaml"],
            parsed["params.yaml"],
            parsed.get("exemptions.yaml"),
            parsed.get("trust.yaml") if changed in ("", "trust.yaml") else None,
            catalogue=self.baseline.catalogue if reuse else None,
            resolved=self.baseline.params if changed and changed != "params.yaml" else None,
        )

    def _decisions(self, policy_set: PolicySet) -> list[dict[str, Any]]:
        from mlgate.engine import Engine
        from mlgate.policytest.expect import summarize

        engine = Engine(policy_set)
        try:
            return [summarize(engine.evaluate(case.document)) for case in self.cases]
        finally:
            engine.close()

    def all_mutations(self) -> list[Mutation]:
        out: list[Mutation] = []
        for name, (document, lines) in self.parsed.items():
            out += mutations(name, document, lines)
        return out

    def classify(self, mutation: Mutation, *, evaluate: bool = True) -> Outcome:
        document, lines = self.parsed[mutation.file]
        mutated = dict(self.parsed)
        mutated[mutation.file] = apply(document, lines, mutation)
        try:
            data = self._check(mutated, mutation.file)
            if mutation.file == "trust.yaml":
                self._compile_trust(*mutated["trust.yaml"])
            missing = sorted(set(self.rego_refs) - set(data.catalogue.controls))
            if missing:
                where = self.rego_refs[missing[0]]
                detail = f"{where}: Rego reports {missing[0]}, which is not in controls.yaml"
                return Outcome(mutation, REJECTED, detail, where)
        except PolicyDataError as err:
            first = err.problems[0]
            return Outcome(mutation, REJECTED, f"[{first.code}] {first}", first.where)
        except MlgateError as err:
            return Outcome(mutation, REJECTED, str(err), err.location)
        trust = mutated.get("trust.yaml", (None, None))[0]
        if decision_relevant(data, trust) == self.baseline_key:
            return Outcome(mutation, NO_EFFECT, "decision-relevant policy identical")
        diff = diff_policies(
            self.baseline,
            data,
            now_ns=self.now_ns,
            old_trust=self.parsed["trust.yaml"][0],
            new_trust=trust,
        )
        if not diff.changes:
            return Outcome(mutation, SILENT, "effective policy changed but the diff shows nothing")
        if diff.weakening:
            return Outcome(mutation, FLAGGED, f"diff: {diff.counts()}")
        if not evaluate:
            return Outcome(mutation, UNEVALUATED, f"diff: {diff.counts()}")
        weaker, changed = self._evaluate(data)
        if weaker:
            return Outcome(
                mutation, SILENT, f"more lenient ({weaker[0]}) but the diff says stricter"
            )
        if not changed:
            return Outcome(mutation, UNCHANGED, f"policy tests decide the same; {diff.counts()}")
        return Outcome(mutation, STRICTER, f"{len(changed)} decisions stricter; {diff.counts()}")

    def _compile_trust(self, document: Any, lines: LineMap) -> None:
        """Keys, certificates and regexes, as the verifier compiles them; the error's JSON
        pointer is mapped to the line ``mlgate policy check`` would name."""
        from mlgate.supplychain.trust import TrustPolicy

        try:
            TrustPolicy.from_document(document, self.policy_dir)
        except MlgateError as err:
            pointer = (err.location or "").removeprefix("<trust>:")
            raise PolicyError(err.message, location=lines.where(pointer), code=err.code) from None

    def _evaluate(self, data: PolicyData) -> tuple[list[str], list[str]]:
        """(cases decided more leniently, cases decided differently) under ``data``."""
        self.evaluations += 1
        if self._baseline_decisions is None:
            self._baseline_decisions = self._decisions(self.policy_set)
        policy_set = dataclasses.replace(
            self.policy_set, data=data.data, catalogue=data.catalogue, exemptions=data.exemptions
        )
        weaker, changed = [], []
        for case, before, after in zip(
            self.cases, self._baseline_decisions, self._decisions(policy_set), strict=True
        ):
            if before == after:
                continue
            changed.append(case.name)
            if is_weaker(before, after):
                weaker.append(case.name)
        return weaker, changed


def is_weaker(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """An admitted request that was denied, or a denial or warning that disappeared."""
    if after["allowed"] and not before["allowed"]:
        return True
    if set(before["violations"]) - set(after["violations"]):
        return True
    blocking = set(after["violations"]) | set(after["warnings"])
    return bool(set(before["warnings"]) - blocking)


def mutation_class(mutation: Mutation) -> tuple[str, str, str]:
    """Mutants that differ only in a list index (the same key of another control) share a
    class: ``/controls/*/severity``."""
    return mutation.file, mutation.op, re.sub(r"/\d+(?=/|$)", "/*", mutation.pointer)


def run(runner: Runner, *, quick: bool, max_evaluations: int | None = None) -> list[Outcome]:
    """Every mutant classified; accepted mutants that change the effective policy but that the
    diff does not call weaker are evaluated on the policy tests (a more lenient decision there
    is a silent weakening), up to ``max_evaluations``. ``quick`` takes the first mutant of
    each class."""
    outcomes = []
    seen: set[tuple[str, str, str]] = set()
    for mutation in runner.all_mutations():
        if quick:
            key = mutation_class(mutation)
            if key in seen:
                continue
            seen.add(key)
        budget = max_evaluations is None or runner.evaluations < max_evaluations
        outcomes.append(runner.classify(mutation, evaluate=budget))
    return outcomes


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    by_verdict = Counter(o.verdict for o in outcomes)
    by_file: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = by_file.setdefault(o.mutation.file, {})
        row[o.verdict] = row.get(o.verdict, 0) + 1
    return {
        "mutations": len(outcomes),
        "verdicts": {v: by_verdict.get(v, 0) for v in VERDICTS},
        "by_file": by_file,
        "silent": [str(o.mutation) + ": " + o.detail for o in outcomes if o.verdict == SILENT],
    }


def main(argv: list[str] | None = None) -> int:
    from mlgate.timeutil import to_ns

    parser = argparse.ArgumentParser(prog="python -m mlgate.policyset.mutation")
    parser.add_argument("--policies", type=Path, default=Path("policies"))
    parser.add_argument("--tests", type=Path, default=Path("policy-tests"))
    parser.add_argument("--quick", action="store_true", help="one mutant per class (see run)")
    parser.add_argument(
        "--max-evaluations", type=int, default=None, help="policy-test evaluations at most"
    )
    parser.add_argument("--now", default="2026-12-01T00:00:00Z", help="time for expiry checks")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every mutant")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runner = Runner(args.policies, args.tests, now_ns=to_ns(args.now, where="--now"))
    outcomes = run(runner, quick=args.quick, max_evaluations=args.max_evaluations)
    summary = report(outcomes)
    summary["policy_test_cases"] = len(runner.cases)
    summary["evaluated_mutants"] = runner.evaluations
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        if args.verbose:
            for o in outcomes:
                print(f"{o.verdict:<13} {o.mutation}: {o.detail}")
        print(f"{summary['mutations']} mutants of {', '.join(FILES)}:")
        for verdict, n in summary["verdicts"].items():
            print(f"  {verdict:<13} {n}")
        for name, row in summary["by_file"].items():
            print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(row.items())))
        print(
            f"{summary['evaluated_mutants']} mutants evaluated on {len(runner.cases)} policy-test "
            f"cases; {summary['seconds']} s"
        )
        for line in summary["silent"]:
            print(f"SILENT {line}")
    return 1 if summary["silent"] else 0


if __name__ == "__main__":
    sys.exit(main())
