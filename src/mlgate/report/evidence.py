"""Promotion-evidence charts for one model, with the thresholds that apply to its tier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgate.policyset import PolicySet
from mlgate.report.charts import evidence_figures, figures_html


def thresholds(policy_set: PolicySet | None, tier: str, environment: str) -> dict[str, Any]:
    """The resolved params.yaml values for a tier and environment (production if unknown)."""
    if policy_set is None:
        return {}
    resolved = policy_set.data.get("mlgate", {}).get("params", {}).get("resolved", {})
    by_env = resolved.get(tier) or resolved.get("unknown") or {}
    return by_env.get(environment) or by_env.get("production") or {}


def evidence_html(evaluation: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> str:
    """The charts for a gate result or attested evaluation, or '' when there is nothing."""
    params = params or {}
    drift = params.get("drift") or {}
    fairness = params.get("fairness") or {}
    minimums = (params.get("metrics") or {}).get("min") or {}
    figures = evidence_figures(
        evaluation,
        psi_warn=float(drift.get("psi_warn", 0.1)),
        psi_deny=float(drift.get("psi_deny", 0.25)),
        parity_ratio=float(fairness.get("min_parity_ratio", 0.8)),
        minimums={k: float(v) for k, v in minimums.items() if isinstance(v, int | float)},
    )
    return figures_html(figures)
