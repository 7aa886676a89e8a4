"""``mlgate gate`` output: the evidence as readable tables, and the promotion decision."""

from __future__ import annotations

from typing import Any

from mlgate.cli.output.findings import finding_lines
from mlgate.decision import Decision


def render_decision(decision: Decision, risk_tier: str | None, environment: str) -> str:
    """The engine's promotion decision on the evidence; without a tier, on the sections
    computed at the strictest (undeclared-tier) parameters."""
    verdict = "PROMOTION ALLOWED" if decision.allowed else "PROMOTION DENIED"
    who = (
        f"{risk_tier}-risk model"
        if risk_tier
        else "risk tier not given (strictest parameters, sections computed)"
    )
    lines = [f"{verdict}: {who} to {environment}"]
    lines += finding_lines(decision)
    if decision.allowed and not decision.warnings:
        lines.append("  every evidence-based promotion gate passes")
    return "\n".join(lines) + "\n"


def _num(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _grid(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append(
            indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return lines


def render_table(evidence: dict[str, Any]) -> str:
    """A readable summary of the evidence, naming drifting features with their statistics."""
    lines: list[str] = []
    inputs = evidence.get("inputs", {})
    drift = evidence.get("drift")
    if drift:
        t = drift["thresholds"]
        lines.append(
            f"Drift: {inputs.get('reference')} ({drift['n_reference']} rows) -> "
            f"{inputs.get('current')} ({drift['n_current']} rows)"
        )
        lines.append(
            f"  thresholds: PSI warn >= {t['psi_warn']:g}, deny >= {t['psi_deny']:g}; "
            f"KS p < {t['ks_pvalue']:g}; chi2 p < {t['chi2_pvalue']:g}; "
            f"dataset drift share >= {t['dataset_drift_share']:g}"
        )
        rows = []
        for name, f in drift["features"].items():
            numeric = f["kind"] == "numeric"
            rows.append(
                [
                    name,
                    f["kind"],
                    _num(f["psi"], ".4f"),
                    ("KS " if numeric else "chi2 ")
                    + _num(f["ks_statistic"] if numeric else f["chi2_statistic"], ".4g"),
                    _num(f["ks_pvalue"] if numeric else f["chi2_pvalue"], ".3g"),
                    _num(f["js_distance"], ".4f"),
                    f["severity"],
                    "yes" if f["drifted"] else "no",
                ]
            )
        lines += _grid(
            ["FEATURE", "KIND", "PSI", "STATISTIC", "P-VALUE", "JS", "SEVERITY", "DRIFTED"], rows
        )
        drifted = drift["drifted_features"]
        lines.append(
            f"  drifted: {', '.join(drifted) if drifted else 'none'} "
            f"({len(drifted)} of {len(drift['features'])}, {drift['drift_share']:.0%}); "
            f"dataset drift: {'yes' if drift['dataset_drift'] else 'no'}; "
            f"max PSI {drift['max_psi']:.4f}"
        )
        lines.append("")
    metrics = evidence.get("metrics")
    if metrics:
        settings = evidence.get("settings", {})
        n = next(iter(metrics.values()))["n"]
        lines.append(
            f"Metrics on {inputs.get('current')} (n={n}; {settings.get('confidence', 0.95):.0%} "
            f"bootstrap CI, {settings.get('bootstrap')} resamples, seed {settings.get('seed')})"
        )
        rows = [
            [
                name,
                _num(m["value"], ".4f"),
                f"[{_num(m['ci_low'], '.4f')}, {_num(m['ci_high'], '.4f')}]",
            ]
            for name, m in metrics.items()
        ]
        lines += _grid(["METRIC", "VALUE", "CI"], rows)
        lines.append("")
    fairness = evidence.get("fairness")
    if fairness:
        lines.append(
            f"Fairness by {fairness['group_column']!r} (min group size "
            f"{fairness['min_group_size']})"
        )
        rows = [
            [
                name + (" (small)" if g["small"] else ""),
                str(g["n"]),
                _num(g["selection_rate"]),
                _num(g["tpr"]),
                _num(g["fpr"]),
                _num(g["accuracy"]),
            ]
            for name, g in fairness["groups"].items()
        ]
        lines += _grid(["GROUP", "N", "SELECTION", "TPR", "FPR", "ACCURACY"], rows)
        rule = fairness["four_fifths_rule"]
        lines.append(
            f"  demographic parity: difference {_num(fairness['demographic_parity_difference'])}, "
            f"ratio {_num(fairness['demographic_parity_ratio'])} (four-fifths rule: "
            f"{'-' if rule is None else 'pass' if rule else 'FAIL'}); equal opportunity "
            f"difference {_num(fairness['equal_opportunity_difference'])}"
        )
        lines += [f"  note: {note}" for note in fairness["notes"]]
        lines.append("")
    stability = evidence.get("stability")
    if stability:
        stable = stability["stable"]
        lines.append(
            f"Stability by {stability['period_column']!r} (tolerance {stability['tolerance']:g}): "
            f"{'-' if stable is None else 'stable' if stable else 'UNSTABLE'}"
        )
        names = [m for m in stability["max_drop"]]
        rows = [
            [period, str(stability["period_sizes"][period])]
            + [_num(values.get(m), ".4f") for m in names]
            for period, values in stability["periods"].items()
        ]
        rows.append(["max drop", ""] + [_num(stability["max_drop"][m], ".4f") for m in names])
        lines += _grid(["PERIOD", "N", *(m.upper() for m in names)], rows)
        lines += [f"  note: {note}" for note in stability["notes"]]
        lines.append("")
    for note in evidence.get("notes", []):
        lines.append(f"note: {note}")
    if evidence.get("notes"):
        lines.append("")
    return "\n".join(lines) + "\n"
