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
from mlgate.policyset.validation import check
from mlgate.policyset.yamlfile import load_yaml_file
from mlgate.timeutil import to_ns as _to_ns

# Environments every policy set resolves; others named in params.yaml are added.
BASE_ENVIRONMENTS = ("production", "staging", "development")


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(path: Path) -> dict[str, Any]:
    """Returns the ``data.mlgate.params`` document: ``resolved``, ``freeze_windows``, names."""
    document, lines = load_yaml_file(path)
    check(document, "params.schema.json", lines)
    tiers_cfg: dict[str, Any] = document.get("tiers", {})
    envs_cfg: dict[str, Any] = document.get("environments", {})
    overrides: list[dict[str, Any]] = document.get("overrides", [])
    environments = list(BASE_ENVIRONMENTS) + [e for e in envs_cfg if e not in BASE_ENVIRONMENTS]
    for i, item in enumerate(overrides):
        if "tier" in item and item["tier"] not in TIERS:
            raise PolicyError(
                f"unknown tier {item['tier']!r}", location=lines.where(f"/overrides/{i}/tier")
            )
    resolved: dict[str, dict[str, Any]] = {}
    for tier in TIERS:
        resolved[tier] = {}
        for env in environments:
            params = _merge(document["defaults"], tiers_cfg.get(tier, {}))
            params = _merge(params, envs_cfg.get(env, {}))
            for item in overrides:
                if item.get("tier", tier) == tier and item.get("environment", env) == env:
                    params = _merge(params, item["set"])
            resolved[tier][env] = params
    windows = []
    for i, window in enumerate(document.get("freeze_windows", [])):
        start = to_ns(window["start"], where=lines.where(f"/freeze_windows/{i}/start"))
        end = to_ns(window["end"], where=lines.where(f"/freeze_windows/{i}/end"), end_of_day=True)
        if end <= start:
            raise PolicyError(
                "freeze window ends before it starts", location=lines.where(f"/freeze_windows/{i}")
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


def to_ns(value: object, *, where: str, end_of_day: bool = False) -> int:
    """A date in a policy file: a bad one is a policy error (exit 2 at load), with its line."""
    try:
        return _to_ns(value, where=where, end_of_day=end_of_day)
    except InputError as err:
        raise PolicyError(err.message, location=err.location) from None
