"""JSON-Schema validation of policy-set files, with errors that point at a file line.

Every problem is a value (:class:`Problem`) with a code, the ``file:line`` it concerns and,
for a misspelt key or name, the closest known spelling. A compliance officer's typo must
never be read as "not set": the schemas are closed (``additionalProperties: false``) at every
level, so an unknown key is an error here rather than a silently ignored setting.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import PolicyError
from mlgate.policyset.yamlfile import LineMap, pointer_of
from mlgate.shapes import mapping, sequence

if TYPE_CHECKING:  # jsonschema costs ~50 ms to import: only where a document is validated
    import jsonschema

# Package data (src/mlgate/schemas links to the repository's schemas/; a wheel holds a copy).
SCHEMA_DIR = Path(str(resources.files("mlgate") / "schemas")).resolve()

# Problem codes (stable: tests and tools match on them, never on the prose).
UNKNOWN_KEY = "unknown-key"
UNKNOWN_NAME = "unknown-name"
WRONG_TYPE = "wrong-type"
MISSING = "missing"
INVALID = "invalid"
UNRESOLVED = "unresolved-parameter"
DUPLICATE = "duplicate"
UNKNOWN_REFERENCE = "unknown-reference"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy data file."""

    code: str
    where: str  # file:line (or file:/json/pointer when the line is unknown)
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else ""
        return f"{self.where}: {self.message}{hint}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "where": self.where,
            "message": self.message,
            "suggestion": self.suggestion,
        }


class PolicyDataError(PolicyError):
    """A policy data file (controls, params, exemptions, trust) is wrong: every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def raise_if(problems: list[Problem]) -> None:
    if problems:
        raise PolicyDataError(problems)


def suggest(word: object, candidates: Iterable[str]) -> str | None:
    """The closest known spelling of ``word`` (difflib ratio >= 0.6), if any."""
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return close[0] if close else None


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / name
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return schema
    except (OSError, ValueError) as err:
        raise PolicyError(f"cannot read schema: {err}", location=str(path)) from None


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """A compiled validator for ``schemas/<name>``; compiled once per process."""
    import jsonschema

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    # The schemas ship with the code and tests check them against their metaschemas
    # (test_schemas_are_valid); checking again here cost every CLI start ~0.15 s.
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_problems(document: Any, schema: str, lines: LineMap) -> list[Problem]:
    """Every schema violation of ``document`` as a Problem, in document order."""
    errors = sorted(validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    problems: list[Problem] = []
    for err in errors:
        problems.extend(_problems_of(err, lines, document))
    return problems


def check(document: Any, schema: str, lines: LineMap, *, limit: int = 20) -> None:
    """Raises PolicyDataError naming every problem (up to ``limit``) as ``file:line: ...``."""
    raise_if(schema_problems(document, schema, lines)[:limit])


_TYPE_NAMES = {
    "number": "a number",
    "integer": "a whole number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def _problems_of(err: jsonschema.ValidationError, lines: LineMap, root: Any) -> list[Problem]:
    pointer = pointer_of(err.absolute_path)
    shown = pointer or "/"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        schema = mapping(err.schema)
        known = list(schema.get("properties", {}))
        patterns = schema.get("patternProperties", {})
        extras = [k for k in err.instance if k not in known and not _matches_any(k, patterns)]
        where_known = f" (known: {', '.join(known)})" if known and len(known) <= 12 else ""
        return [
            Problem(
                UNKNOWN_KEY,
                lines.where(f"{pointer}/{pointer_of([key])[1:]}"),
                f"unknown key {key!r} in {shown}{where_known}",
                suggest(key, known),
            )
            for key in extras
        ]
    if err.validator == "const":
        return [Problem(INVALID, lines.where(pointer), f"{shown}: {err.message}")]
    if err.validator == "enum":
        allowed = sequence(err.validator_value)
        names = [a for a in allowed if isinstance(a, str)]
        target = _resolve(root, err.absolute_path)
        if isinstance(target, dict) and isinstance(err.instance, str) and err.instance in target:
            # propertyNames: the offending thing is a key of this mapping.
            return [
                Problem(
                    UNKNOWN_NAME,
                    lines.where(f"{pointer}/{pointer_of([err.instance])[1:]}"),
                    f"unknown name {err.instance!r} in {shown} (known: {', '.join(names)})",
                    suggest(err.instance, names),
                )
            ]
        return [
            Problem(
                UNKNOWN_NAME,
                lines.where(pointer),
                f"{shown}: {err.instance!r} is not one of {', '.join(map(repr, allowed))}",
                suggest(err.instance, names),
            )
        ]
    if err.validator == "type":
        value = err.validator_value
        expected = [value] if isinstance(value, str) else sequence(value)
        return [
            Problem(
                WRONG_TYPE,
                lines.where(pointer),
                f"{shown} must be {' or '.join(_TYPE_NAMES.get(t, t) for t in expected)}, "
                f"got {_short(err.instance)}",
            )
        ]
    if err.validator == "required":
        return [Problem(MISSING, lines.where(pointer), f"{shown}: {err.message}")]
    return [Problem(INVALID, lines.where(pointer), f"{shown}: {err.message}")]


def _resolve(doc: Any, path: Any) -> Any:
    """The value at ``path`` in ``doc`` (None when there is none)."""
    for part in path:
        try:
            doc = doc[part]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _matches_any(key: str, patterns: dict[str, Any]) -> bool:
    return any(re.search(p, key) for p in patterns)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
