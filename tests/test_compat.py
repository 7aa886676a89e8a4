"""The embedded engine's workarounds for rego-cpp (mlgate.rego.compat), checked against OPA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from regopy import Interpreter
from regopy import rego_shared as rs

from mlgate.policyset.builtins import check_module
from mlgate.rego import compat
from opa_support import opa_eval, requires_opa

# Strings whose ends are letters that appear in escape sequences (t, n, r, f, u), and Unicode
# spaces: a cutset handled as escaped text would eat the letters.
TRIM_CORPUS = [
    "\u00a0x\u00a0",
    "\u3000\u2003value\u205f",
    "\t\n\u000b\f\r x \r\n",
    "tnature\t",
    "u00a0",
    "nft",
    "\u0085next\u0085",
    "\u200b zero width is not space \u200b",
    "x\u00a0\t\u00a0\t\u00a0\t\u00a0",
    "",
    "   ",
    "😀",
    "à",
]
# With quotes or backslashes rego-cpp's trim family (its own trim_space too) returns the
# string unescaped; what the policies need from it, blank or not, must still agree.
BLANK_CORPUS = [*TRIM_CORPUS, "\\ back \\", 'say "hi"', " \\", "\\n", 'a"']
CASE_CORPUS = [
    "ÉLODIE",
    "élodie",
    "İstanbul",
    "ǅungla",
    "ΣΟΦΊΑ",
    "straße",
    "ÀÉÎÕÜ abc XYZ",
    "Ωmega ǈ ǋ",
]


def _cpp_eval(query: str, doc: dict[str, Any], names: frozenset[str]) -> Any:
    interp = Interpreter()
    interp.strict_built_in_errors = True
    interp.add_module(compat.MODULE_NAME, compat.module_source(names, "x/y"))
    compat.set_input(interp, doc)
    impl = rs.rego_query(interp._impl, query)
    try:
        text = rs.rego_output_string(impl)
    finally:
        rs.rego_free_output(impl)
    return json.loads(text, strict=False)["bindings"]["x"]


@pytest.mark.opa
@requires_opa[1]
def test_trim_space_matches_opa(tmp_path: Path) -> None:
    names = frozenset({"trim_space"})
    got = _cpp_eval(
        "x := [data.mlgate_compat.trim_space_u(s) | some s in input.xs]", {"xs": TRIM_CORPUS}, names
    )
    want = opa_eval(f"x := [trim_space(s) | some s in {json.dumps(TRIM_CORPUS)}]", tmp=tmp_path)
    assert got == want
    blank = _cpp_eval(
        'x := [i | s := input.xs[i]; data.mlgate_compat.trim_space_u(s) == ""]',
        {"xs": BLANK_CORPUS},
        names,
    )
    query = f'xs := {json.dumps(BLANK_CORPUS)}; x := [i | s := xs[i]; trim_space(s) == ""]'
    assert blank == opa_eval(query, tmp=tmp_path)


@pytest.mark.opa
@requires_opa[1]
def test_case_tables_match_opa_character_by_character(tmp_path: Path) -> None:
    lower_keys = "".join(sorted(compat._simple_map(upper=False)))
    upper_keys = "".join(sorted(compat._simple_map(upper=True)))
    names = frozenset({"lower", "upper"})
    doc = {"l": lower_keys, "u": upper_keys, "words": CASE_CORPUS}
    got = _cpp_eval(
        "x := [data.mlgate_compat.lower_u(input.l), data.mlgate_compat.upper_u(input.u), "
        "[[data.mlgate_compat.lower_u(w), data.mlgate_compat.upper_u(w)] | some w in input.words]]",
        doc,
        names,
    )
    (tmp_path / "in.json").write_text(json.dumps(doc), encoding="utf-8")
    want = opa_eval(
        f"x := [lower({json.dumps(lower_keys)}), upper({json.dumps(upper_keys)}), "
        f"[[lower(w), upper(w)] | some w in {json.dumps(CASE_CORPUS)}]]",
        tmp=tmp_path,
    )
    for label, a, b in (("lower", got[0], want[0]), ("upper", got[1], want[1])):
        diff = [
            (hex(ord(k)), x, y)
            for k, x, y in zip(lower_keys if label == "lower" else upper_keys, a, b, strict=False)
            if x != y
        ]
        assert a == b, f"{label}: {len(diff)} characters differ, e.g. {diff[:10]}"
    assert got[2] == want[2]


def test_rewrite_touches_only_builtin_calls() -> None:
    source = (
        "package p\n\n"
        "import data.lib\n\n"
        "# lower(x) in a comment stays\n"
        'a := lower(input.x)\n\nb := "lower(not a call)"\n\nc := lib.lower(1)\n\n'
        "d := trim_space(upper(input.y))\n\ne := input.lower\n"
    )
    out = compat.rewrite({"p.rego": source}, "p/result")
    text = out["p.rego"]
    assert "a := data.mlgate_compat.lower_u(input.x)" in text
    assert '"lower(not a call)"' in text and "# lower(x) in a comment stays" in text
    assert "c := lib.lower(1)" in text and "e := input.lower" in text
    assert "data.mlgate_compat.trim_space_u(data.mlgate_compat.upper_u(input.y))" in text
    assert compat.MODULE_NAME in out
    own = compat.rewrite({"q.rego": "package q\n\nlower(x) := x\n\ny := lower(1)\n"}, "q/result")
    assert "y := lower(1)" in own["q.rego"]


def test_input_strings_survive_the_round_trip() -> None:
    """Quotes, backslashes, NUL and control characters come back exactly."""
    values = ['a "quoted" word', "back\\slash \\n", "nul\x00byte", "tab\tnew\nline", "\u2028", "ok"]
    interp = Interpreter()
    compat.set_input(interp, {"xs": values, 'key "q"': 1})
    impl = rs.rego_query(interp._impl, "x := input")
    try:
        text = rs.rego_output_string(impl)
    finally:
        rs.rego_free_output(impl)
    assert json.loads(text, strict=False)["bindings"]["x"] == {"xs": values, 'key "q"': 1}


def test_integers_outside_int64_are_refused() -> None:
    interp = Interpreter()
    compat.set_input(interp, {"n": 2**63 - 1, "m": -(2**63)})
    with pytest.raises(compat.InputRangeError, match="/a/1"):
        compat.set_input(interp, {"a": [0, 2**64 + 5]})


def _run_entry(modules: dict[str, str], doc: dict[str, Any]) -> Any:
    builder = Interpreter()
    for name, source in compat.rewrite(modules, "t/result").items():
        builder.add_module(name, source)
    bundle = builder.build(None, [compat.SAFE_ENTRYPOINT])
    interp = Interpreter()
    compat.set_input(interp, doc)
    impl = rs.rego_bundle_query_entrypoint(interp._impl, bundle._impl, compat.SAFE_ENTRYPOINT)
    try:
        return compat.decode_output(impl)
    finally:
        rs.rego_free_output(impl)


def test_quote_artifacts_are_decoded_instead_of_failing() -> None:
    """A literal passed on to sprintf keeps its quotes in rego-cpp, breaking its JSON output."""
    module = (
        "package t\n\n"
        'result := {"findings": [{"control": "C-1", "message": msg, "path": "/x"}]} if {\n'
        '\tsource := object.get(input, "missing", "none")\n'
        "\tmsg := sprintf(\"source '%s' and %v\", [source, input.s])\n"
        "}\n"
    )
    value = _run_entry({"t.rego": module}, {"s": 'in"put'})
    assert value["findings"][0]["control"] == "C-1"
    assert 'in\\"put' not in value["findings"][0]["message"]
    assert 'in"put' in value["findings"][0]["message"]


def test_integrity_check_catches_a_result_that_does_not_add_up() -> None:
    good = {"findings": [{"control": "A"}], "risk_tier": "high"}
    summary = {"controls": "A", "top": "risk_tier=high"}
    assert compat._checked({**good, compat.INTEGRITY_KEY: summary}) == good
    hidden = {"findings": [], "risk_tier": "high", compat.INTEGRITY_KEY: summary}
    with pytest.raises(ValueError, match="does not match"):
        compat._checked(hidden)
    relabelled = {**good, "risk_tier": "minimal", compat.INTEGRITY_KEY: summary}
    with pytest.raises(ValueError, match="does not match"):
        compat._checked(relabelled)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ('a := "line\\nbreak"', True),
        ('a := "caf\\u00e9"', True),
        ("a := `raw\\nstays`", False),
        ('a := "plain"', False),
        ("a := strings.replace_n({}, input.x)", True),
        ('a := semver.compare("1.0.0", input.v)', True),
    ],
)
def test_load_check_refuses_what_rego_cpp_gets_wrong(source: str, flagged: bool) -> None:
    problems = check_module("m.rego", f"package m\n\n{source}\n", lambda name: True)
    assert bool(problems) is flagged, problems


def test_trim_space_of_a_reference_is_inlined_as_the_builtin() -> None:
    """trim_space(<ref>) becomes trim(<ref>, go_space): a builtin, no user-function call."""
    source = "package p\n\na := trim_space(input.x)\n\nb := trim_space(xs[i])\n"
    out = compat.rewrite({"p.rego": source}, "p/result")
    text = out["p.rego"]
    assert f"a := trim(input.x, `{compat.GO_SPACE}`)" in text
    assert f"b := trim(xs[i], `{compat.GO_SPACE}`)" in text
    assert "trim_space" not in text
    blank = {"xs": ["\u00a0\u3000", " a\u2003", "\u205fb\u0085", "", "c"]}
    modules = {
        "t.rego": 'package t\n\nresult := {"findings": [], "t": [trim_space(s) | some s in input.xs]}\n'
    }
    assert _run_entry(modules, blank)["t"] == ["", "a", "b", "", "c"]


def test_decision_cache_is_keyed_by_the_exact_input() -> None:
    from mlgate.policyset import load_policy_set
    from mlgate.rego.embedded import EmbeddedBackend

    backend = EmbeddedBackend(load_policy_set(Path(__file__).resolve().parents[1] / "policies"))
    doc = {"context": {"environment": "production", "now_ns": 1}}
    try:
        first = backend.evaluate(doc)
        first["findings"].append("changed by the caller")
        again = backend.evaluate(doc)
        assert backend.cache_hits == 1 and "changed by the caller" not in again["findings"]
        backend.evaluate({"context": {"environment": "production", "now_ns": 2}})
        backend.evaluate({"context": {"environment": "production", "now_ns": 1.0}})
        assert backend.cache_hits == 1  # another now_ns, or 1.0 for 1, is another input
        backend.cache_size = 2
        for n in range(5):
            backend.evaluate({"context": {"environment": "production", "now_ns": 10 + n}})
        assert len(backend._cache) == 2
    finally:
        backend.close()
