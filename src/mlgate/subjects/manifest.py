"""mlgate ModelManifest (mlgate.io/v1): a model described for a CI check.

Files it names (signature, attestation, card, evidence) are read relative to the manifest.
The signature and attestation are passed on exactly as the webhook would receive them
(base64 in the mlgate.io/* annotations), so CI and admission verify the same bytes the same way.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from mlgate.errors import InputError
from mlgate.policyset.yamlfile import load_data_file
from mlgate.subjects.base import (
    ATTESTATION,
    ATTESTATION_REF,
    BREAK_GLASS,
    DIGEST,
    SIGNATURE,
    SIGNATURE_REF,
    ModelRef,
    expect_mapping,
    expect_str,
)

MAX_BUNDLE_BYTES = 1024 * 1024


def _resolve(base_dir: Path | None, value: str, where: str) -> Path:
    path = Path(value)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise InputError(f"file not found: {value}", location=where)
    return path


def _bundle_annotation(
    spec: dict[str, Any], key: str, inline_key: str, ref_key: str, base_dir: Path | None, where: str
) -> dict[str, str]:
    section = spec.get(key)
    if section is None:
        return {}
    section = expect_mapping(section, f"{where}/{key}")
    if "path" in section:
        path = _resolve(
            base_dir, expect_str(section["path"], f"{where}/{key}/path"), f"{where}/{key}/path"
        )
        data = path.read_bytes()
        if len(data) > MAX_BUNDLE_BYTES:
            raise InputError(
                f"{path} is larger than {MAX_BUNDLE_BYTES} bytes", location=f"{where}/{key}/path"
            )
        return {inline_key: base64.b64encode(data).decode()}
    if "ref" in section:
        return {ref_key: expect_str(section["ref"], f"{where}/{key}/ref")}
    if "inline" in section:
        return {inline_key: expect_str(section["inline"], f"{where}/{key}/inline")}
    raise InputError("expected one of path, ref or inline", location=f"{where}/{key}")


def _document(spec: dict[str, Any], key: str, base_dir: Path | None, where: str) -> Any:
    """``spec.<key>`` inline, or ``spec.<key>File`` read from disk."""
    if key in spec:
        return spec[key]
    file_key = key + "File"
    if file_key in spec:
        path = _resolve(
            base_dir, expect_str(spec[file_key], f"{where}/{file_key}"), f"{where}/{file_key}"
        )
        data, _ = load_data_file(path)
        return data
    return None


def manifest_parts(
    obj: dict[str, Any], base_dir: Path | None, where: str
) -> tuple[list[ModelRef], dict[str, Any]]:
    spec = expect_mapping(obj.get("spec"), f"{where}/spec")
    model = expect_mapping(spec.get("model"), f"{where}/spec/model")
    if "uri" not in model:
        raise InputError("spec.model.uri is required", location=f"{where}/spec/model")
    annotations: dict[str, str] = {}
    if model.get("digest") is not None:
        annotations[DIGEST] = expect_str(model["digest"], f"{where}/spec/model/digest")
    annotations |= _bundle_annotation(
        spec, "signature", SIGNATURE, SIGNATURE_REF, base_dir, f"{where}/spec"
    )
    annotations |= _bundle_annotation(
        spec, "attestation", ATTESTATION, ATTESTATION_REF, base_dir, f"{where}/spec"
    )
    if spec.get("breakGlass"):
        annotations[BREAK_GLASS] = expect_str(spec["breakGlass"], f"{where}/spec/breakGlass")
    ref = ModelRef(
        component="model",
        uri=expect_str(model["uri"], f"{where}/spec/model/uri"),
        annotations=annotations,
        name=str(model.get("name", "")),
        format=str(model.get("format", "")),
        runtime=str(model.get("runtime", "")),
        version=str(model.get("version", "")),
    )
    declared: dict[str, Any] = {}
    for key in ("card", "evidence", "approvals", "gates"):
        value = _document(spec, key, base_dir, f"{where}/spec")
        if value is not None:
            expected = list if key == "approvals" else dict
            if not isinstance(value, expected):
                raise InputError(
                    f"spec.{key} must be a {expected.__name__}", location=f"{where}/spec/{key}"
                )
            declared[key] = json.loads(json.dumps(value, default=str))
    deployer = expect_mapping(spec.get("deployer"), f"{where}/spec/deployer")
    declared["deployer"] = deployer
    declared["environment"] = spec.get("environment")
    return [ref], declared
