"""Control parameters (policies/params.yaml), resolved per risk tier and environment.

The compliance officer writes a layered file; the policies read one flat table,
``data.mlgate.params.resolved[tier][environment]``. Resolving in Python at load time keeps
the Rego simple and makes both backends see the same numbers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mlgate.errors import InputError, PolicyError
from mlgate.policyset.catalogue import TIERS
from mlgate.policyset.validation import (
    INVALID,
    UNKNOWN_NAME,
    UNRESOLVED,
    Problem,
    load_schema,
    raise_if,
    schema_problems,
    suggest,
)
from mlgate.policyset.yamlfile import LineMap, load_yaml_file
from mlgate.timeutil import to_ns as _to_ns

# Environments every policy set resolves; others named in params.yaml are added.
BASE_ENVIRONMENTS = ("production", "staging", "development")
# Tiers with parameters of their own. Prohibited and unknown tiers are held to the strictest
# (high) parameters, as lib.rego reads them, so params.yaml cannot give them a layer.
PARAMETER_TIERS = ("high", "limited", "minimal")
STRICTEST_TIER = "high"


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_params_file(path: Path) -> tuple[dict[str, Any], LineMap]:
    """The one reader of params.yaml: parsed, schema-checked and resolved for every tier x
    environment; raises PolicyDataError naming every problem with ``file:line``."""
    document, lines = load_yaml_file(path)
    check_params_document(document, lines)
    return document, lines


def check_params_document(document: Any, lines: LineMap) -> dict[str, Any]:
    """Validates a parsed params.yaml; returns the ``data.mlgate.params`` document."""
    raise_if(schema_problems(document, "params.schema.json", lines))
    params = resolve(document, lines)
    raise_if(resolution_problems(params, lines))
    return params


def load_params(path: Path) -> dict[str, Any]:
    """Returns the ``data.mlgate.params`` document: ``resolved``, ``freeze_windows``, names."""
    document, lines = load_yaml_file(path)
    return check_params_document(document, lines)


def environments_of(document: dict[str, Any]) -> list[str]:
    envs_cfg: dict[str, Any] = document.get("environments", {})
    return list(BASE_ENVIRONMENTS) + [e for e in envs_cfg if e not in BASE_ENVIRONMENTS]


def resolve(document: dict[str, Any], lines: LineMap) -> dict[str, Any]:
    """Layers defaults -> tiers -> environments -> overrides for every tier x environment."""
    tiers_cfg: dict[str, Any] = document.get("tiers", {})
    envs_cfg: dict[str, Any] = document.get("environments", {})
    overrides: list[dict[str, Any]] = document.get("overrides", [])
    environments = environments_of(document)
    problems = []
    for i, item in enumerate(overrides):
        env = item.get("environment")
        if env is not None and env not in environments:
            problems.append(_unknown_environment(env, environments, lines, f"/overrides/{i}"))
    for i, window in enumerate(document.get("freeze_windows", [])):
        for j, env in enumerate(window.get("environments", [])):
            if env not in environments:
                problems.append(
                    _unknown_environment(
                        env, environments, lines, f"/freeze_windows/{i}/environments/{j}"
                    )
                )
    raise_if(problems)
    resolved: dict[str, dict[str, Any]] = {}
    for tier in PARAMETER_TIERS:
        resolved[tier] = {}
        for env in environments:
            params = _merge(document["defaults"], tiers_cfg.get(tier, {}))
            params = _merge(params, envs_cfg.get(env, {}))
            for item in overrides:
                if item.get("tier", tier) == tier and item.get("environment", env) == env:
                    params = _merge(params, item["set"])
            resolved[tier][env] = params
    for tier in TIERS:
        resolved.setdefault(tier, resolved[STRICTEST_TIER])
    windows = []
    for i, window in enumerate(document.get("freeze_windows", [])):
        start = to_ns(window["start"], where=lines.where(f"/freeze_windows/{i}/start"))
        end = to_ns(window["end"], where=lines.where(f"/freeze_windows/{i}/end"), end_of_day=True)
        if end <= start:
            raise PolicyError(
                "freeze window ends before it starts",
                location=lines.where(f"/freeze_windows/{i}"),
                code="params.freeze_window_order",
            )
        windows.append(
            {
                "name": window["name"],
                "start_ns": start,
                "end_ns": end,
                "environments": window.get("environments", ["production"]),
            }
        )
    return {
        "resolved": resolved,
        "freeze_windows": windows,
        "environments": environments,
        "model_servers": document.get("model_servers", []),
        "classification": document.get("classification", {}),
    }


def _unknown_environment(env: str, known: list[str], lines: LineMap, pointer: str) -> Problem:
    return Problem(
        UNKNOWN_NAME,
        lines.where(pointer),
        f"unknown environment {env!r} (known: {', '.join(known)}; add it under "
        "`environments:` in params.yaml to define it)",
        suggest(env, known),
    )


def parameter_schemas() -> dict[str, dict[str, Any]]:
    """Every parameter params.schema.json defines, by dotted name, with its schema."""
    return dict(_leaves(load_schema("params.schema.json")["$defs"]["parameters"], ""))


def _leaves(schema: dict[str, Any], prefix: str) -> list[tuple[str, dict[str, Any]]]:
    if "properties" not in schema:
        return [(prefix, schema)]
    out = []
    for key, sub in schema["properties"].items():
        out += _leaves(sub, f"{prefix}.{key}" if prefix else key)
    return out


_ABSENT = object()


def lookup(params: Any, dotted: str) -> Any:
    """The value at a dotted parameter name, or ``_ABSENT``."""
    cur = params
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _ABSENT
        cur = cur[part]
    return cur


def is_defined(params: Any, dotted: str) -> bool:
    value = lookup(params, dotted)
    return value is not _ABSENT and value is not None


def resolution_problems(params: dict[str, Any], lines: LineMap) -> list[Problem]:
    """Every parameter the schema defines must resolve, non-null, in every tier x environment
    (types were checked per layer, and merging well-typed layers keeps them well-typed)."""
    problems = []
    cells = [(t, e) for t in PARAMETER_TIERS for e in params["environments"]]
    for dotted in parameter_schemas():
        missing = [(t, e) for t, e in cells if not is_defined(params["resolved"][t][e], dotted)]
        if missing:
            scope = (
                "any risk tier or environment"
                if len(missing) == len(cells)
                else ", ".join(f"{t}/{e}" for t, e in missing[:6])
                + (f" (and {len(missing) - 6} more)" if len(missing) > 6 else "")
            )
            problems.append(
                Problem(
                    UNRESOLVED,
                    lines.where("/defaults/" + dotted.replace(".", "/")),
                    f"parameter {dotted!r} has no value for {scope}; set it under defaults",
                )
            )
    for t, e in cells:
        drift = params["resolved"][t][e].get("drift", {})
        if drift.get("psi_warn", 0) > drift.get("psi_deny", 1):
            problems.append(
                Problem(
                    INVALID,
                    lines.where("/defaults/drift"),
                    f"drift.psi_warn {drift['psi_warn']} exceeds drift.psi_deny "
                    f"{drift['psi_deny']} for tier {t} in environment {e}",
                )
            )
            break
    return problems


def to_ns(value: object, *, where: str, end_of_day: bool = False) -> int:
    """A date in a policy file: a bad one is a policy error (exit 2 at load), with its line."""
    try:
        return _to_ns(value, where=where, end_of_day=end_of_day)
    except InputError as err:
        raise PolicyError(err.message, location=err.location, code=err.code) from None
