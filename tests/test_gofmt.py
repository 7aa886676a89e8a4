"""OPA-exact sprintf: the Wasm engine's host sprintf against the real OPA on generated values.

One tiny policy, ``r := [sprintf(c[0], c[1]) | some c in input.cases]``, is evaluated twice
with the same cases: by ``opa eval`` (the reference) and compiled to Wasm through the engine's
own path (host builtins, JSON through opa-py-wasm). Every string must be identical.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlgate.policyset.builtins import check_module
from mlgate.rego.gofmt import UnsupportedFormat, check_format, sprintf
from mlgate.rego.hostbuiltins import HOST_BUILTINS, time_date
from mlgate.rego.wasm import new_policy
from mlgate.rego.wasm_build import compile_modules
from opa_support import OPA, POLICIES

POLICY = "package t\n\nr := [sprintf(c[0], c[1]) | some c in input.cases]\n"
DATES = "package t\n\nr := [time.date(n) | some n in input.cases]\n"
SEED = 20261201

FORMATS = [
    "%v",
    "%s",
    "%d",
    "%f",
    "%.3f",
    "%.6f",
    "%.0f",
    "%e",
    "%.2e",
    "%E",
    "%g",
    "%.3g",
    "%G",
    "%5d",
    "%-5d|",
    "%05d",
    "%8.2f",
    "%-8.2f|",
    "%08.3f",
    "%10v|",
    "%-10s|",
    "x%%y %v",
    "%v and %v",
    "",
    "no verbs",
    "%04d-%02d-%02d",
]

STRINGS = [
    "",
    "plain",
    'say "hi"',
    "back\\slash",
    "tab\tnew\nline",
    "nul\x00byte",
    "\x7f\x1b",
    "élodie ÉLODIE",
    "\u00a0nbsp\u3000",
    "\u200f\u202eRTL override",
    "😀 emoji",
    "\u2028\u2029",
    "日本語",
    "x" * 300,
]


def _floats(rng: random.Random) -> list[float]:
    fixed = [0.1, 0.5, 2.5, -1.5, 1e21, 1e20, 1e-7, 1e-5, 1e6, 123456.0, 1234567.0, 0.683]
    fixed += [1e300, -1e-300, 5e-324, 1.7976931348623157e308, 0.30000000000000004, 100.0]
    randoms = [rng.uniform(-1e6, 1e6) for _ in range(10)]
    randoms += [rng.random() * 10 ** rng.randint(-12, 25) for _ in range(10)]
    return fixed + randoms


def _values(rng: random.Random) -> list[Any]:
    ints = [0, 1, -1, 42, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**30]
    nested = [
        {"b": [1, "x\n"], "a": None, "é": {"ü": True}},
        [1, 2.5, "s", None, False, [], {}],
        {'quote"key': "tab\tvalue", "\x01": "\u00a0"},
        [[[[["deep"]]]]],
        {"n": 10**30, "f": 0.1},
    ]
    return [*ints, *_floats(rng), *STRINGS, True, False, None, *nested]


def _cases() -> list[list[Any]]:
    rng = random.Random(SEED)
    values = _values(rng)
    cases: list[list[Any]] = []
    for fmt in FORMATS:
        for value in values:
            cases.append([fmt, [value] * max(1, fmt.count("%") - 2 * fmt.count("%%"))])
    cases += [["%d", [1, 2]], ["%v %v", [1]], ["%d %s", [1, "a", 2.5, [1]]], ["%v", []]]
    cases += [["%v", [10**40]], ["%d", [10**40]], ["%f", [10**40]], ["%s", [2**63]]]
    return cases


def _opa_eval(modules: str, cases: list[Any], tmp: Path) -> list[Any]:
    (tmp / "p.rego").write_text(modules)
    (tmp / "input.json").write_text(json.dumps({"cases": cases}))
    proc = subprocess.run(
        [
            str(OPA),
            "eval",
            "-f",
            "json",
            "-d",
            str(tmp / "p.rego"),
            "-i",
            str(tmp / "input.json"),
            "data.t.r",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout)["result"][0]["expressions"][0]["value"]


def _wasm_eval(modules: str, cases: list[Any]) -> list[Any]:
    wasm = compile_modules({"p.rego": modules}, ["t/r"], opa_binary=OPA)
    policy = new_policy(wasm, pool_size=1, eval_timeout_s=30.0)
    try:
        for name in policy.builtins:
            policy.register_builtin(name, HOST_BUILTINS[name])
        return policy.evaluate({"cases": cases}, "t/r")
    finally:
        policy.close()


@pytest.mark.opa
def test_sprintf_on_wasm_is_identical_to_opa(tmp_path: Path) -> None:
    if OPA is None:
        pytest.skip("OPA binary not found: run `make opa`")
    cases = _cases()
    want = _opa_eval(POLICY, cases, tmp_path)
    got = _wasm_eval(POLICY, cases)
    assert len(want) == len(got) == len(cases)
    diffs = [(c, w, g) for c, w, g in zip(cases, want, got, strict=True) if w != g]
    assert not diffs, f"{len(diffs)} of {len(cases)} differ, e.g.:\n" + "\n".join(
        f"sprintf({c[0]!r}, {json.dumps(c[1])[:80]}): opa={w!r:.120} wasm={g!r:.120}"
        for c, w, g in diffs[:: max(1, len(diffs) // 25)]
    )


@pytest.mark.opa
def test_time_date_on_wasm_is_identical_to_opa(tmp_path: Path) -> None:
    if OPA is None:
        pytest.skip("OPA binary not found: run `make opa`")
    rng = random.Random(SEED)
    cases: list[Any] = [0, -1, 1, 2**63 - 1, -(2**63), 1e18, 951782400 * 10**9]
    cases += [rng.randint(-(2**63), 2**63 - 1) for _ in range(200)]
    cases += [[n, "UTC"] for n in cases[:20]]
    assert _wasm_eval(DATES, cases) == _opa_eval(DATES, cases, tmp_path)


@pytest.mark.parametrize("value", [1.5, 2**63, 1e300, "x", [1, "Europe/Paris"], True])
def test_time_date_refuses_what_opa_refuses_or_cannot_be_exact(value: Any) -> None:
    with pytest.raises(ValueError):
        time_date(value)


@pytest.mark.parametrize(
    "fmt", ["%q", "%x", "%T", "%+d", "% d", "%#v", "%[1]d", "%*d", "%.2v", "%05s", "trailing %"]
)
def test_unsupported_directives_are_refused(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat):
        check_format(fmt)
    with pytest.raises(UnsupportedFormat):
        sprintf(fmt, [1])


def test_a_literal_unsupported_format_is_refused_with_file_and_line() -> None:
    source = (
        'package p\n\nok := sprintf("%d of %v", [1, 2])\n\nbad := sprintf("%x", [255])\n'
        'also := lib.format("%q", ["x"])\n'
    )
    problems = check_module("p.rego", source)
    assert [(p.line, p.name) for p in problems] == [(5, "sprintf"), (6, "sprintf")]
    assert "%x" in problems[0].reason


@pytest.mark.parametrize(
    ("fmt", "args", "want"),
    [
        ("%d", [1, 2], "1%!(EXTRA int64=2)"),
        ("%v %v", [1], "1 %!v(MISSING)"),
        ("%d", ["a"], "%!d(string=a)"),
        ("%s", [5], "%!s(int64=5)"),
        ("%v", [{"b": 1, "a": [True, None]}], '{"a": [true, null], "b": 1}'),
        ("%v", [1e6], "1e+06"),
        ("%.3f", [2 / 3], "0.667"),
    ],
)
def test_go_fmt_examples(fmt: str, args: list[Any], want: str) -> None:
    assert sprintf(fmt, args) == want


LIB_FORMAT = (
    "package t\n\nimport data.mlgate.lib\n\nr := [lib.format(c[0], c[1]) | some c in input.cases]\n"
)
MIXED_FORMATS = ["%s and %v", "%v|%s|%d", "%s é %s ✓", "%d%%", "%v (%s)"]


def _lib_format_cases() -> list[list[Any]]:
    """sprintf's cases, plus templates with several verbs over mixed argument types."""
    rng = random.Random(SEED + 1)
    values = _values(rng)
    cases = _cases()
    for fmt in MIXED_FORMATS:
        for _ in range(40):
            cases.append([fmt, [rng.choice(values) for _ in range(fmt.count("%"))]])
    return cases


@pytest.mark.opa
def test_lib_format_is_opa_sprintf_on_both_engines(tmp_path: Path) -> None:
    """Every message goes through lib.format (policies/lib.rego), which computes the plain
    cases with builtins inside the module: on OPA and on Wasm it must give OPA's sprintf."""
    if OPA is None:
        pytest.skip("OPA binary not found: run `make opa`")
    cases = _lib_format_cases()
    lib = (POLICIES / "lib.rego").read_text()
    want = _opa_eval(POLICY, cases, tmp_path)
    on_opa = _opa_eval_modules({"p.rego": LIB_FORMAT, "lib.rego": lib}, cases, tmp_path)
    wasm = compile_modules({"p.rego": LIB_FORMAT, "lib.rego": lib}, ["t/r"], opa_binary=OPA)
    policy = new_policy(wasm, pool_size=1, eval_timeout_s=30.0)
    try:
        for name in policy.builtins:
            policy.register_builtin(name, HOST_BUILTINS[name])
        on_wasm = policy.evaluate({"cases": cases}, "t/r")
    finally:
        policy.close()
    for engine, got in (("opa", on_opa), ("wasm", on_wasm)):
        diffs = [(c, w, g) for c, w, g in zip(cases, want, got, strict=True) if w != g]
        assert not diffs, f"{engine}: {len(diffs)} of {len(cases)} differ, e.g.:\n" + "\n".join(
            f"lib.format({c[0]!r}, {json.dumps(c[1])[:80]}): sprintf={w!r:.120} got={g!r:.120}"
            for c, w, g in diffs[:20]
        )


def _opa_eval_modules(modules: dict[str, str], cases: list[Any], tmp: Path) -> list[Any]:
    for name, text in modules.items():
        (tmp / name).write_text(text)
    (tmp / "input.json").write_text(json.dumps({"cases": cases}))
    args = [str(OPA), "eval", "-f", "json", "-i", str(tmp / "input.json")]
    for name in modules:
        args += ["-d", str(tmp / name)]
    proc = subprocess.run(
        [*args, "data.t.r"], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout)["result"][0]["expressions"][0]["value"]
