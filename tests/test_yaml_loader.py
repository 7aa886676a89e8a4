"""YAML loading through libyaml (PyYAML's compose API) keeps line numbers, and falls back to
the pure-Python loader, with a notice, when PyYAML was built without libyaml."""

from __future__ import annotations

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
