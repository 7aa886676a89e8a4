"""The shipped JSON Schemas are valid against their metaschemas (checked here, not at every
start: ``validation.validator`` trusts them)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from mlgate.policyset.validation import SCHEMA_DIR

SCHEMAS = sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json"))


def test_every_schema_is_listed() -> None:
    assert "input.schema.json" in SCHEMAS and "model-card.schema.json" in SCHEMAS


@pytest.mark.parametrize("name", SCHEMAS)
def test_schemas_are_valid(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_a_broken_schema_is_caught_by_the_metaschema_check() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "no-such-type"}
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.validators.validator_for(schema).check_schema(schema)
