"""YAML and JSON loading that remembers line numbers, so errors can say ``file:line``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mlgate.errors import InputError

MAX_FILE_BYTES = 16 * 1024 * 1024

# libyaml parses about 7x faster than the pure-Python parser, and its nodes carry the same
# marks, so line numbers survive. PyYAML built without libyaml falls back, with a notice.
HAVE_LIBYAML = hasattr(yaml, "CSafeLoader")
FALLBACK_NOTICE = (
    "mlgate: notice: PyYAML has no libyaml (yaml.CSafeLoader); "
    "parsing with the pure-Python loader, which is several times slower"
)
_notice_shown = False


def _without_timestamps(base: Any) -> dict[str, list[tuple[str, Any]]]:
    """Implicit resolvers minus timestamps: policies convert dates to ns themselves, and a
    schema that says "string" should not see a ``datetime.date``."""
    return {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }


class _PureLoader(yaml.SafeLoader):
    yaml_implicit_resolvers = _without_timestamps(yaml.SafeLoader)


if HAVE_LIBYAML:

    class _CLoader(yaml.CSafeLoader):
        yaml_implicit_resolvers = _without_timestamps(yaml.CSafeLoader)


def loader_class() -> type:
    """The fastest safe loader available (libyaml's when PyYAML was built with it)."""
    global _notice_shown
    if HAVE_LIBYAML and hasattr(yaml, "CSafeLoader"):
        return _CLoader
    if not _notice_shown:
        _notice_shown = True
        print(FALLBACK_NOTICE, file=sys.stderr)
    return _PureLoader


class LineMap:
    """Maps a JSON pointer (``/controls/3/severity``) to the 1-based line it came from.

    Built either from a ready ``{pointer: line}`` dict or, lazily, from the composed YAML
    node: most documents never need a line number, so walking every node up front (and
    keeping a dict entry per scalar) would be wasted work.
    """

    def __init__(
        self, path: str, lines: dict[str, int] | None = None, *, node: yaml.Node | None = None
    ) -> None:
        self.path = path
        self._lines = lines if lines is not None else {}
        self._node = node

    def line(self, pointer: str) -> int | None:
        if self._node is not None:
            return _node_line(self._node, pointer)
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


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _node_line(node: yaml.Node, pointer: str) -> int:
    """Line of the deepest node on ``pointer``; a mapping entry is reported at its key (where
    a reader looks), a missing key at its parent."""
    line = node.start_mark.line + 1
    for raw in pointer.split("/")[1:] if pointer else []:
        part = _unescape(raw)
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if str(k.value) == part]
            if not found:
                break
            key, node = found[-1]  # a repeated key: the last one wins, as in the data
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def pointer_of(parts: Any) -> str:
    """JSON pointer for a jsonschema ``absolute_path`` (or any sequence of keys)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


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
        raise InputError(
            f"not UTF-8 text (byte {err.start})", location=str(path), code="file.not_utf8"
        ) from None
    except PermissionError:
        raise InputError("permission denied", location=str(path)) from None


def _yaml_error(path: str, err: yaml.YAMLError) -> InputError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is not None:
        return InputError(
            f"invalid YAML: {problem}", location=f"{path}:{mark.line + 1}", code="yaml.invalid"
        )
    return InputError(f"invalid YAML: {problem}", location=path, code="yaml.invalid")


_STR, _NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null"
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Delegate(Exception):
    """A document the fast builder leaves to PyYAML's constructor (a recursive alias)."""


class _Builder:
    """Python data from composed nodes, as PyYAML's SafeConstructor builds it, faster: plain
    maps, lists and strings (nearly every node in Kubernetes YAML) are built here, and every
    other node (numbers, booleans, merge keys, complex keys, !!set, !!binary...) by the
    loader's own constructor, so the result is the same. Aliases give the same object, as
    with PyYAML, and are built once (no alias bomb)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.built: dict[int, Any] = {}
        self.building: set[int] = set()

    def document(self, node: yaml.Node) -> Any:
        try:
            return self.build(node)
        except _Delegate:
            return self.loader.construct_document(node)
        finally:
            self.built.clear()
            self.building.clear()

    def build(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR and type(node) is yaml.ScalarNode:
            return node.value
        key = id(node)
        if key in self.built:
            return self.built[key]
        if key in self.building:
            raise _Delegate
        if tag == _MAP and type(node) is yaml.MappingNode:
            keys = [k for k, _ in node.value]
            if any(type(k) is not yaml.ScalarNode or k.tag == _MERGE for k in keys):
                value = self.loader.construct_document(node)
            else:
                self.building.add(key)
                value = {self.build(k): self.build(v) for k, v in node.value}
                self.building.discard(key)
        elif tag == _SEQ and type(node) is yaml.SequenceNode:
            self.building.add(key)
            value = [self.build(item) for item in node.value]
            self.building.discard(key)
        elif tag == _NULL:
            value = None
        else:
            value = self.loader.construct_document(node)
        self.built[key] = value
        return value


def _parsed(text: str, path: str) -> Iterator[tuple[yaml.Node, Any]]:
    """(node, data) per document, through PyYAML's compose API: nodes keep their marks, and
    one loader both composes and constructs, so libyaml does the parsing and resolution."""
    loader = loader_class()(text)
    builder = _Builder(loader)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield node, builder.document(node)
    except yaml.YAMLError as err:
        raise _yaml_error(path, err) from None
    except RecursionError:
        raise InputError("YAML is nested too deeply", location=path) from None
    finally:
        loader.dispose()


def load_yaml_documents(text: str, path: str) -> list[tuple[Any, LineMap]]:
    """All documents of a (multi-document) YAML stream, each with its line map."""
    return [(data, LineMap(path, node=node)) for node, data in _parsed(text, path)]


def load_yaml_stream(text: str, path: str) -> list[tuple[Any, int]]:
    """All documents with the line each starts on: for streams of many objects, where
    keeping every node for a line map would cost more than the parse (GC of the nodes)."""
    return [(data, node.start_mark.line + 1) for node, data in _parsed(text, path)]


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
            f"invalid JSON: {err.msg} (column {err.colno})",
            location=f"{path}:{err.lineno}",
            code="json.invalid",
        ) from None
    except RecursionError:
        raise InputError("JSON is nested too deeply", location=str(path)) from None


def load_data_file(path: Path) -> tuple[Any, LineMap]:
    """JSON or YAML by extension (YAML is a superset, but JSON errors read better)."""
    if path.suffix == ".json":
        return load_json_file(path), LineMap(str(path), {})
    return load_yaml_file(path)
