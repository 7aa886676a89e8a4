"""YAML and JSON loading that remembers line numbers, so errors can say ``file:line``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import InputError

MAX_FILE_BYTES = 16 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings: policies convert them to ns themselves,
    and a schema that says "string" should not see a ``datetime.date``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class LineMap:
    """Maps a JSON pointer (``/controls/3/severity``) to the 1-based line it came from."""

    def __init__(self, path: str, lines: dict[str, int]) -> None:
        self.path = path
        self._lines = lines

    def line(self, pointer: str) -> int | None:
        # Walk up the pointer until something is known: an error on a missing key is
        # reported at its parent mapping.
        while True:
            if pointer in self._lines:
                return self._lines[pointer]
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]

    def where(self, pointer: str) -> str:
        line = self.line(pointer)
        return f"{self.path}:{line}" if line else f"{self.path}:{pointer or '/'}"


def pointer_of(parts: Any) -> str:
    """JSON pointer for a jsonschema ``absolute_path`` (or any sequence of keys)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _record(node: yaml.Node, pointer: str, lines: dict[str, int]) -> None:
    lines[pointer] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _record(value, f"{pointer}/{key.value}", lines)
            lines[f"{pointer}/{key.value}"] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record(item, f"{pointer}/{i}", lines)


def read_text(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"file is {size} bytes, more than the {max_bytes} allowed", location=str(path)
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", location=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", location=str(path)) from None
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", location=str(path)) from None
    except PermissionError:
        raise InputError("permission denied", location=str(path)) from None


def _yaml_error(path: str, err: yaml.YAMLError) -> InputError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is not None:
        return InputError(f"invalid YAML: {problem}", location=f"{path}:{mark.line + 1}")
    return InputError(f"invalid YAML: {problem}", location=path)


def load_yaml_documents(text: str, path: str) -> list[tuple[Any, LineMap]]:
    """All documents of a (multi-document) YAML stream, each with its line map."""
    docs: list[tuple[Any, LineMap]] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is None:
                continue
            lines: dict[str, int] = {}
            _record(node, "", lines)
            data = _Loader("").construct_document(node)
            docs.append((data, LineMap(path, lines)))
    except yaml.YAMLError as err:
        raise _yaml_error(path, err) from None
    except RecursionError:
        raise InputError("YAML is nested too deeply", location=path) from None
    return docs


def load_yaml_file(path: Path) -> tuple[Any, LineMap]:
    """One YAML document; an empty file is an empty mapping."""
    text = read_text(path)
    docs = load_yaml_documents(text, str(path))
    if len(docs) > 1:
        raise InputError("expected one YAML document, found several", location=str(path))
    return docs[0] if docs else ({}, LineMap(str(path), {}))


def load_json_file(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"invalid JSON: {err.msg} (column {err.colno})", location=f"{path}:{err.lineno}"
        ) from None
    except RecursionError:
        raise InputError("JSON is nested too deeply", location=str(path)) from None


def load_data_file(path: Path) -> tuple[Any, LineMap]:
    """JSON or YAML by extension (YAML is a superset, but JSON errors read better)."""
    if path.suffix == ".json":
        return load_json_file(path), LineMap(str(path), {})
    return load_yaml_file(path)
