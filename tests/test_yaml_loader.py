"""YAML loading through libyaml (PyYAML's compose API) keeps line numbers, and falls back to
the pure-Python loader, with a notice, when PyYAML was built without libyaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.errors import InputError
from mlgate.policyset import yamlfile
from mlgate.policyset.yamlfile import LineMap, load_yaml_documents

STREAM = """\
# comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: first
  created: 2026-01-02
data:
  items:
    - a
    - b: 1
      c: [x, y]
---
---
kind: Second
list: [1, 2]
"""


@pytest.fixture(params=["libyaml", "pure"])
def loader(request, monkeypatch, capsys):
    if request.param == "pure":
        monkeypatch.setattr(yamlfile, "HAVE_LIBYAML", False)
        monkeypatch.setattr(yamlfile, "_notice_shown", False)
    elif not yamlfile.HAVE_LIBYAML:
        pytest.skip("PyYAML in this environment was built without libyaml (yaml.CSafeLoader)")
    return request.param


def test_libyaml_is_the_loader_here() -> None:
    # The project's venv installs PyYAML wheels, which bundle libyaml.
    assert yaml.__with_libyaml__ and yamlfile.HAVE_LIBYAML
    assert issubclass(yamlfile.loader_class(), yaml.CSafeLoader)


def test_documents_and_lines(loader) -> None:
    docs = load_yaml_documents(STREAM, "f.yaml")
    assert [d for d, _ in docs] == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "first", "created": "2026-01-02"},  # timestamps stay text
            "data": {"items": ["a", {"b": 1, "c": ["x", "y"]}]},
        },
        None,
        {"kind": "Second", "list": [1, 2]},
    ]
    lines = docs[0][1]
    assert lines.line("") == 2
    assert lines.line("/metadata/name") == 5
    assert lines.line("/data/items/1") == 10
    assert lines.line("/data/items/1/c") == 11
    assert lines.line("/data/items/1/c/1") == 11
    assert lines.line("/metadata/missing") == 4  # a missing key is reported at its parent
    assert lines.line("/data/items/9") == 8
    assert lines.where("/data/items/0") == "f.yaml:9"
    assert docs[2][1].line("/list") == 15


def test_both_loaders_agree_on_data_and_lines(monkeypatch) -> None:
    fast = load_yaml_documents(STREAM, "f.yaml")
    monkeypatch.setattr(yamlfile, "HAVE_LIBYAML", False)
    pure = load_yaml_documents(STREAM, "f.yaml")
    assert [d for d, _ in fast] == [d for d, _ in pure]
    for pointer in ("", "/kind", "/metadata/created", "/data/items/1/b", "/nope"):
        assert fast[0][1].line(pointer) == pure[0][1].line(pointer)


def test_fallback_prints_one_notice(monkeypatch, capsys) -> None:
    monkeypatch.setattr(yamlfile, "HAVE_LIBYAML", False)
    monkeypatch.setattr(yamlfile, "_notice_shown", False)
    load_yaml_documents("a: 1\n", "x.yaml")
    load_yaml_documents("b: 2\n", "y.yaml")
    err = capsys.readouterr().err
    assert err.count(yamlfile.FALLBACK_NOTICE) == 1
    assert yamlfile.loader_class() is yamlfile._PureLoader


def test_escaped_pointer_parts() -> None:
    [(doc, lines)] = load_yaml_documents("a/b:\n  c~d: 1\n", "x.yaml")
    assert doc == {"a/b": {"c~d": 1}}
    assert lines.line("/a~1b/c~0d") == 2


def test_dict_line_maps_still_work() -> None:
    lines = LineMap("t.yaml", {"/a": 3})
    assert lines.line("/a/b") == 3 and lines.line("/z") is None
    assert lines.where("/z") == "t.yaml:/z"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: [1, 2\n", 3),
        ("a: 1\n  b: 2\n", 2),
        ("- a\nb: 1\n", 2),
        ("x: !!python/object:os.system 1\n", 1),
    ],
)
def test_invalid_yaml_names_file_and_line(loader, text: str, line: int) -> None:
    with pytest.raises(InputError) as err:
        load_yaml_documents(text, "bad.yaml")
    assert err.value.location == f"bad.yaml:{line}"
    assert err.value.message.startswith("invalid YAML")


def test_deep_nesting_is_an_input_error_not_a_crash(loader) -> None:
    with pytest.raises(InputError) as err:
        load_yaml_documents("[" * 20000 + "]" * 20000, "deep.yaml")
    assert err.value.location and err.value.location.startswith("deep.yaml")


def test_stream_gives_each_document_and_its_first_line(loader) -> None:
    docs = yamlfile.load_yaml_stream(STREAM, "f.yaml")
    assert [line for _, line in docs] == [2, 13, 14]
    assert [d for d, _ in docs] == [d for d, _ in load_yaml_documents(STREAM, "f.yaml")]
    with pytest.raises(InputError) as err:
        yamlfile.load_yaml_stream("a: 1\n---\nb: [\n", "s.yaml")
    assert err.value.location == "s.yaml:4"


TRICKY = """\
base: &base {a: 1, b: [x, y]}
merged:
  <<: *base
  b: override
ints: [0x1F, 017, 1_000, -12, +3, 0b101]
floats: [1.5, -.inf, 1e3, 6.8523015e+5]
bools: [yes, No, on, off, true, False]
nulls: [~, null, ]
shared: [*base, *base]
? 1.5
: float key
binary: !!binary aGVsbG8=
set: !!set {p: null, q: null}
omap: !!omap [{one: 1}, {two: 2}]
quoted: ["123", 'true', "null"]
dates: [2026-01-02, 2026-01-02T10:00:00Z]
"""
RECURSIVE = "a: &x\n  self: *x\n"


def _both(text: str) -> tuple[list[Any], list[Any]]:
    fast = [d for _, d in yamlfile._parsed(text, "t.yaml")]
    reference = list(yaml.load_all(text, Loader=yamlfile._PureLoader))
    return fast, reference


def test_fast_builder_matches_pyyaml_on_tricky_yaml() -> None:
    fast, reference = _both(TRICKY)
    assert fast == reference
    doc = fast[0]
    assert doc["merged"] == {"a": 1, "b": "override"}
    assert doc["ints"] == [31, 15, 1000, -12, 3, 5]
    assert doc["bools"] == [True, False, True, False, True, False]
    assert doc["shared"][0] is doc["shared"][1] is doc["base"]  # aliases: one object
    assert doc["binary"] == b"hello" and doc["set"] == {"p", "q"}
    assert doc["dates"] == ["2026-01-02", "2026-01-02T10:00:00Z"]


def test_unhashable_keys_are_errors_as_in_pyyaml() -> None:
    with pytest.raises(InputError) as err:
        yamlfile.load_yaml_stream("? [complex, key]\n: value\n", "k.yaml")
    assert err.value.location == "k.yaml:1" and "unhashable" in err.value.message


def test_fast_builder_hands_recursive_aliases_to_pyyaml() -> None:
    [doc] = [d for _, d in yamlfile._parsed(RECURSIVE, "r.yaml")]
    assert doc["a"]["self"] is doc["a"]


def test_fast_builder_matches_pyyaml_on_every_yaml_file_in_the_repository() -> None:
    root = Path(__file__).resolve().parents[1]
    files = [
        p
        for d in ("policies", "examples", "policy-tests", "webhook", "schemas")
        for p in sorted((root / d).rglob("*.y*ml"))
        if "templates" not in p.relative_to(root / d).parts  # Helm chart templates: not YAML
    ]
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        fast, reference = _both(text)
        assert fast == reference, path


def test_alias_bomb_is_built_once_per_node() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    [(doc, _)] = yamlfile.load_yaml_stream("\n".join(levels) + "\n", "bomb.yaml")
    assert doc["a8"][0] is doc["a7"]  # shared, not 10**9 copies
