"""Loading a policy-test suite: case files validated against their schema, bases loaded once.

The file format is described in :mod:`mlgate.policytest`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from mlgate.errors import InputError
from mlgate.policyset.yamlfile import LineMap, load_data_file, load_yaml_file, pointer_of
from mlgate.timeutil import to_ns

ID_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

CASE_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["cases"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "mlgate.io/v1"},
        "kind": {"const": "PolicyTests"},
        "description": {"type": "string"},
        "base": {"type": "string", "minLength": 1},
        "cases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "expect"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "base": {"type": "string", "minLength": 1},
                    "now": {"type": ["string", "integer"]},
                    "set": {"type": "object"},
                    "unset": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "expect": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": False,
                        "properties": {
                            "allowed": {"type": "boolean"},
                            "violations": ID_LIST,
                            "warnings": ID_LIST,
                            "audits": ID_LIST,
                            "exemptions": ID_LIST,
                            "not_violations": ID_LIST,
                            "absent": ID_LIST,
                            "risk_tier": {"type": "string"},
                            "exact": {"type": "boolean"},
                            "messages": {
                                "type": "object",
                                "additionalProperties": {
                                    "oneOf": [{"type": "string"}, ID_LIST],
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(CASE_FILE_SCHEMA)


@dataclass
class Case:
    name: str
    file: str
    line: int
    document: dict[str, Any]
    expect: dict[str, Any]
    kind: str = "case"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _parse_path(path: str) -> list[str]:
    """``a.b.0`` or the JSON pointer ``/a/b/0`` (use the pointer when a key has dots)."""
    if path.startswith("/"):
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    return path.split(".")


def _walk(doc: Any, parts: list[str], create: bool) -> tuple[Any, str]:
    """The container that holds the last part of ``parts``, and that part."""
    cur = doc
    for i, part in enumerate(parts[:-1]):
        if isinstance(cur, list):
            if not part.isdigit() or int(part) >= len(cur):
                raise KeyError(f"no list index {part!r} at {'.'.join(parts[: i + 1])}")
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if part not in cur:
                if not create:
                    raise KeyError(f"no key {part!r} at {'.'.join(parts[: i + 1])}")
                cur[part] = {}
            elif cur[part] is None and create:
                cur[part] = {}
            cur = cur[part]
        else:
            raise KeyError(f"{'.'.join(parts[:i])} is a {type(cur).__name__}, not an object")
    return cur, parts[-1]


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parent, last = _walk(doc, _parse_path(path), create=True)
    if isinstance(parent, list):
        if last == "-":
            parent.append(copy.deepcopy(value))
        elif last.isdigit() and int(last) < len(parent):
            parent[int(last)] = copy.deepcopy(value)
        else:
            raise KeyError(f"no list index {last!r} in {path}")
    elif isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    else:
        raise KeyError(f"cannot set {path}: parent is a {type(parent).__name__}")


def unset_path(doc: dict[str, Any], path: str) -> None:
    parent, last = _walk(doc, _parse_path(path), create=False)
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise KeyError(f"nothing to unset at {path}")


def _schema_error(lines: LineMap, err: jsonschema.ValidationError) -> InputError:
    pointer = pointer_of(err.absolute_path)
    return InputError(f"{pointer or '/'}: {err.message[:200]}", location=lines.where(pointer))


class Suite:
    """The cases of a directory, with their bases loaded once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._bases: dict[Path, dict[str, Any]] = {}

    def base(self, ref: str, where: str) -> dict[str, Any]:
        candidates = [self.directory / "bases" / f"{ref}.yaml", self.directory / "bases" / ref]
        candidates.append(self.directory / ref)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise InputError(
                f"base {ref!r} not found in {self.directory / 'bases'}", location=where
            )
        if path not in self._bases:
            document, _ = load_data_file(path)
            if not isinstance(document, dict):
                raise InputError("a base must be a canonical input object", location=str(path))
            self._bases[path] = document
        return copy.deepcopy(self._bases[path])

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise InputError("policy test directory not found", location=str(self.directory))
        files = sorted(
            p
            for p in self.directory.iterdir()
            if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
        )
        if not files:
            raise InputError("no *.yaml case files", location=str(self.directory))
        return files

    def load_file(self, path: Path) -> list[Case]:
        document, lines = load_yaml_file(path)
        errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            raise _schema_error(lines, errors[0])
        default_base = document.get("base")
        cases: list[Case] = []
        seen: set[str] = set()
        for i, raw in enumerate(document["cases"]):
            pointer = f"/cases/{i}"
            where = lines.where(pointer)
            if raw["name"] in seen:
                raise InputError(f"duplicate case name {raw['name']!r}", location=where)
            seen.add(raw["name"])
            base_ref = raw.get("base", default_base)
            if base_ref is None:
                raise InputError(
                    "case has no base (set 'base' in the case or the file)", location=where
                )
            doc = self.base(base_ref, where)
            if "now" in raw:
                try:
                    doc.setdefault("context", {})["now_ns"] = to_ns(raw["now"])
                except InputError as err:
                    raise InputError(err.message, location=lines.where(f"{pointer}/now")) from None
            for target in raw.get("unset", []):
                try:
                    unset_path(doc, target)
                except KeyError as err:
                    raise InputError(
                        f"unset {target}: {err.args[0]}", location=lines.where(f"{pointer}/unset")
                    ) from None
            for target, value in raw.get("set", {}).items():
                try:
                    set_path(doc, target, value)
                except KeyError as err:
                    raise InputError(
                        f"set {target}: {err.args[0]}", location=lines.where(f"{pointer}/set")
                    ) from None
            cases.append(
                Case(
                    name=raw["name"],
                    file=str(path),
                    line=lines.line(pointer) or 1,
                    document=doc,
                    expect=raw["expect"],
                )
            )
        return cases

    def load(self) -> list[Case]:
        return [case for path in self.files() for case in self.load_file(path)]
