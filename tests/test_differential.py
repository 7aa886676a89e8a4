"""Differential conformance: the embedded engine (Wasm) must decide exactly as OPA does.

For every case of policy-tests/ and for seeded random variations of the bases (booleans
flipped, keys dropped, environments, tiers and numbers changed, awkward strings), both
backends evaluate the same input through the same Engine; allowed, the sets of denied, warned
and audited control ids and the risk tier must be identical. One OPA server serves the whole
test process (opa_support.shared_engines).
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from mlgate.policytest.cases import Suite
from opa_support import POLICY_TESTS, decision_key, requires_opa, shared_engines

pytestmark = requires_opa

SEED = 20240611
VARIATIONS_PER_BASE = 30
# Strings that an embedded engine (rego-cpp, before Wasm) has handled differently from OPA.
AWKWARD_STRINGS = [
    "",
    " ",
    "\u00a0",
    "\u3000\u2003",
    "\t\n",
    'say "hi"',
    "back\\slash \\n not a newline",
    "ÉLODIE",
    "élodie",
    "İstanbul",
    "x\u2028y",
    "😀 emoji",
    "trailing space ",
    "sha256:" + "0" * 64,
]


@pytest.fixture(scope="module")
def case_results(
    shipped_results: list[tuple[Any, Any]],
) -> list[tuple[Any, dict[str, Any], dict[str, Any], Any, Any]]:
    """Every policy-tests case: its embedded decision from the session's one run of the shipped
    suite (conftest.shipped_results), and the same document on OPA."""
    _, opa = shared_engines()
    out = []
    for case, embedded in shipped_results:
        reference = opa.evaluate(case.document)
        out.append((case, decision_key(embedded), decision_key(reference), embedded, reference))
    return out


def _bases() -> dict[str, dict[str, Any]]:
    suite = Suite(POLICY_TESTS)
    return {
        p.stem: suite.base(p.stem, str(p)) for p in sorted((POLICY_TESTS / "bases").glob("*.yaml"))
    }


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out: list[tuple[tuple[Any, ...], Any]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append(((*path, key), value))
            out += _leaves(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.append(((*path, i), value))
            out += _leaves(value, (*path, i))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def _mutate(rng: random.Random, doc: dict[str, Any]) -> list[str]:
    """Applies 1-3 random changes in place; returns a description of each."""
    done: list[str] = []
    for _ in range(rng.randint(1, 3)):
        leaves = _leaves(doc)
        path, value = rng.choice(leaves)
        where = "/" + "/".join(map(str, path))
        parent = _parent(doc, path)
        roll = rng.random()
        if roll < 0.12:
            doc["context"]["environment"] = rng.choice(
                ["production", "staging", "development", "prod"]
            )
            done.append(f"environment={doc['context']['environment']}")
        elif roll < 0.22:
            governance = doc.setdefault("card", {}).setdefault("governance", {})
            governance["risk_tier"] = rng.choice(
                ["prohibited", "high", "limited", "minimal", "unknown"]
            )
            done.append(f"risk_tier={governance['risk_tier']}")
        elif roll < 0.28:
            doc["card_source"] = rng.choice(["attestation", "declared", "none"])
            done.append(f"card_source={doc['card_source']}")
        elif roll < 0.34:
            doc["context"]["now_ns"] += rng.choice([-1, 1]) * rng.randint(1, 800) * 86_400 * 10**9
            done.append("now_ns shifted")
        elif isinstance(value, bool):
            parent[path[-1]] = not value
            done.append(f"flip {where}")
        elif isinstance(value, int | float):
            new = rng.choice([0, -1, value * 10, value / 2, 0.5, 1e300, int(value) + 1])
            if isinstance(new, int) and abs(new) >= 2**63:
                new = float(new)  # beyond int64 is a known, fail-closed divergence (tested below)
            parent[path[-1]] = new
            done.append(f"{where}={new!r}")
        elif isinstance(value, str):
            new = rng.choice(AWKWARD_STRINGS)
            parent[path[-1]] = new
            done.append(f"{where}={new!r}")
        elif isinstance(parent, dict) and len(path) > 1:
            del parent[path[-1]]
            done.append(f"drop {where}")
        else:
            done.append("no-op")
    return done


def _variations() -> list[tuple[str, dict[str, Any], list[str]]]:
    embedded, _ = shared_engines()
    rng = random.Random(SEED)
    out = []
    for name, base in _bases().items():
        made = 0
        attempts = 0
        while made < VARIATIONS_PER_BASE and attempts < VARIATIONS_PER_BASE * 10:
            attempts += 1
            doc = copy.deepcopy(base)
            changes = _mutate(rng, doc)
            if embedded.input_errors(doc):
                continue  # both engines would deny it the same way before any Rego runs
            out.append((f"{name}#{made}", doc, changes))
            made += 1
    return out


def _compare(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
    embedded, opa = shared_engines()
    a = embedded.evaluate(doc)
    b = opa.evaluate(doc)
    return decision_key(a), decision_key(b), a, b


def _explanation(d: Any) -> list[tuple[str, ...]]:
    items = [*d.violations, *d.warnings, *d.audits]
    out = sorted((v.control, v.enforcement, v.message, v.path) for v in items)
    return out + sorted(("exemption", e.id, e.control, e.message) for e in d.exemptions)


def _messages(d: Any) -> list[tuple[str, str]]:
    return sorted((v.control, v.message) for v in [*d.violations, *d.warnings, *d.audits])


def _explain(a: Any, b: Any) -> str:
    def errs(d: Any) -> list[str]:
        return [v.message for v in d.violations if v.control.startswith("MLGATE-")]

    return f"embedded errors: {errs(a)}; opa errors: {errs(b)}"


def test_policy_tests_agree_on_both_backends(case_results) -> None:
    assert case_results, "policy-tests/ has no cases"
    mismatches = []
    for case, ka, kb, a, b in case_results:
        if ka != kb:
            mismatches.append(
                f"{case.where} {case.name}: embedded={ka} opa={kb} ({_explain(a, b)})"
            )
    assert not mismatches, "\n".join(mismatches)


def test_policy_tests_messages_agree(case_results) -> None:
    """Same findings, same words, paths and exemptions: the explanation must not depend on the
    engine."""
    mismatches = []
    for case, _, _, a, b in case_results:
        ma, mb = _explanation(a), _explanation(b)
        if ma != mb:
            diff = sorted(set(ma) ^ set(mb))[:4]
            mismatches.append(f"{case.where} {case.name}: {diff}")
    assert not mismatches, "\n".join(mismatches)


def test_random_variations_agree_on_both_backends() -> None:
    variations = _variations()
    assert len(variations) >= VARIATIONS_PER_BASE
    mismatches = []
    for name, doc, changes in variations:
        ka, kb, a, b = _compare(doc)
        if ka != kb:
            mismatches.append(f"{name} {changes}: embedded={ka} opa={kb} ({_explain(a, b)})")
    assert not mismatches, f"{len(mismatches)} of {len(variations)} differ:\n" + "\n".join(
        mismatches[:15]
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        # rego-cpp's own trim_space keeps U+00A0: a blank required field would pass (compat).
        (("card", "governance", "risk_tier"), "\u00a0"),
        # quotes and backslashes from the input used to break or alter rego-cpp's output.
        (("signature", "error"), 'a "quoted" reason with a back\\slash'),
        (("request", "user", "username"), "ÉLODIE"),
        # Text that would inject JSON structure into rego-cpp's raw output (compat integrity).
        (("card", "governance", "risk_tier"), 'x", "control": "NOPE", "path": "/p'),
        (
            ("card", "governance", "risk_tier"),
            '"}], "environment": "development", "findings": [{"control": "X',
        ),
    ],
)
def test_awkward_values_agree(path: tuple[str, ...], value: str) -> None:
    for base in _bases().values():
        doc = copy.deepcopy(base)
        target = doc
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
        ka, kb, a, b = _compare(doc)
        assert ka == kb, _explain(a, b)


@pytest.mark.parametrize("value", [2**64 + 5, -(2**63) - 1, 10**30, 2**53 + 1])
def test_integers_beyond_int64_agree(value: int) -> None:
    """The Wasm engine takes big integers as OPA does (rego-cpp wrapped them around)."""
    for base in _bases().values():
        doc = copy.deepcopy(base)
        doc["context"]["now_ns"] = value
        for approval in doc["evidence"].get("approvals", []):
            approval["approved_at_ns"] = value
        ka, kb, a, b = _compare(doc)
        assert ka == kb, _explain(a, b)
        assert _messages(a) == _messages(b)


def test_bases_are_present() -> None:
    assert Path(POLICY_TESTS / "bases").is_dir()
    assert _bases()
