"""JSON-Schema validation of policy-set files, with errors that point at a file line."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from mlgate.errors import PolicyError
from mlgate.policyset.yamlfile import LineMap, pointer_of

# Package data (src/mlgate/schemas links to the repository's schemas/; a wheel holds a copy).
SCHEMA_DIR = Path(str(resources.files("mlgate") / "schemas")).resolve()


def schema_dir() -> Path:
    return SCHEMA_DIR


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """A compiled validator for ``schemas/<name>``; compiled once per process."""
    path = SCHEMA_DIR / name
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PolicyError(f"cannot read schema: {err}", location=str(path)) from None
    cls = jsonschema.validators.validator_for(schema)
    # The schemas ship with the code and tests check them against their metaschemas
    # (test_schemas_are_valid); checking again here cost every CLI start ~0.15 s.
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def check(document: Any, schema: str, lines: LineMap, *, limit: int = 20) -> None:
    """Raises PolicyError naming every problem (up to ``limit``) as ``file:line: message``."""
    errors = sorted(validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    shown = [f"{lines.where(pointer_of(e.absolute_path))}: {_describe(e)}" for e in errors[:limit]]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    raise PolicyError("; ".join(shown) + more)


def _describe(err: jsonschema.ValidationError) -> str:
    where = pointer_of(err.absolute_path) or "/"
    return f"{where}: {err.message}"
