"""Promotion-evidence charts as generated SVG: no script, crisp in print, readable offline.

Each chart is a horizontal bar chart (one row per feature, group or metric), so long names
fit and the charts stay legible at any width. Every chart has a <title> and an aria-label
that state what it shows; the numbers are printed beside the bars, so the chart is readable
without colour."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgate.report.html import esc

_W, _LABEL_W, _VALUE_W, _ROW, _TOP = 580, 200, 70, 24, 34
_BAR = "#3b6ea8"
_BAR_BAD = "#a4161a"
_LINE_WARN = "#7a4a00"
_LINE_DENY = "#a4161a"


def _frame(title: str, rows: int, body: str) -> str:
    height = _TOP + rows * _ROW + 26
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{esc(title)}" '
        f'width="{_W}" height="{height}" viewBox="0 0 {_W} {height}" '
        'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">'
        f"<title>{esc(title)}</title>"
        f'<text x="0" y="16" font-size="13" font-weight="bold" fill="#1b1b1b">{esc(title)}</text>'
        f"{body}</svg>"
    )


def _x(value: float, top: float) -> float:
    span = _W - _LABEL_W - _VALUE_W
    return _LABEL_W + span * max(0.0, min(value, top)) / top if top > 0 else _LABEL_W


def _vline(value: float, top: float, rows: int, colour: str, label: str, dash: str) -> str:
    x = _x(value, top)
    y2 = _TOP + rows * _ROW
    return (
        f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{y2}" stroke="{colour}" '
        f'stroke-width="1.5" stroke-dasharray="{dash}"/>'
        f'<text x="{x + 3:.1f}" y="{y2 + 14}" fill="{colour}" font-size="11">{esc(label)}</text>'
    )


def _bar_row(
    i: int, label: str, value: float, top: float, text: str, bad: bool, extra: str = ""
) -> str:
    y = _TOP + i * _ROW
    x = _x(value, top)
    return (
        f'<text x="{_LABEL_W - 6}" y="{y + 15}" text-anchor="end" fill="#1b1b1b">'
        f"{esc(label[:28])}</text>"
        f'<rect x="{_LABEL_W}" y="{y + 4}" width="{max(x - _LABEL_W, 1):.1f}" height="{_ROW - 8}" '
        f'fill="{_BAR_BAD if bad else _BAR}"/>{extra}'
        f'<text x="{_W - _VALUE_W + 6}" y="{y + 15}" fill="#1b1b1b">{esc(text)}</text>'
    )


def psi_chart(features: Mapping[str, Any], warn: float = 0.1, deny: float = 0.25) -> str:
    """PSI per feature with the warn and deny thresholds."""
    values = {
        name: float(f.get("psi", 0.0))
        for name, f in features.items()
        if isinstance(f, Mapping) and isinstance(f.get("psi"), int | float)
    }
    rows = sorted(values.items(), key=lambda kv: -kv[1])
    top = max([deny * 1.3, *values.values()]) if values else deny * 1.3
    body = "".join(
        _bar_row(i, name, v, top, f"{v:.3f}", v >= deny) for i, (name, v) in enumerate(rows)
    )
    body += _vline(warn, top, len(rows), _LINE_WARN, f"warn {warn:g}", "4 3")
    body += _vline(deny, top, len(rows), _LINE_DENY, f"deny {deny:g}", "2 2")
    return _frame("Population stability index (PSI) per feature", len(rows), body)


def selection_rate_chart(groups: Mapping[str, Any], ratio: float = 0.8) -> str:
    """Selection rate per group, with the four-fifths line (ratio x the highest rate)."""
    rates = {
        name: float(g["selection_rate"])
        for name, g in groups.items()
        if isinstance(g, Mapping) and isinstance(g.get("selection_rate"), int | float)
    }
    best = max(rates.values(), default=0.0)
    line = ratio * best
    top = min(1.0, best * 1.25) if best > 0 else 1.0  # low base rates stay readable
    body = "".join(
        _bar_row(i, name, r, top, f"{r:.3f}", r < line) for i, (name, r) in enumerate(rates.items())
    )
    body += _vline(line, top, len(rates), _LINE_DENY, f"four-fifths line {line:.3f}", "2 2")
    return _frame("Selection rate per group against the four-fifths rule", len(rates), body)


def metrics_chart(metrics: Mapping[str, Any], minimums: Mapping[str, float] | None = None) -> str:
    """Each metric's value with its confidence interval (whiskers) and its minimum (tick)."""
    minimums = minimums or {}
    rows = [
        (name, m)
        for name, m in metrics.items()
        if isinstance(m, Mapping) and isinstance(m.get("value"), int | float)
    ]
    body = ""
    for i, (name, m) in enumerate(rows):
        value = float(m["value"])
        low, high = m.get("ci_low"), m.get("ci_high")
        y = _TOP + i * _ROW + _ROW / 2
        extra = ""
        if isinstance(low, int | float) and isinstance(high, int | float):
            x1, x2 = _x(float(low), 1.0), _x(float(high), 1.0)
            extra += (
                f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="#1b1b1b" '
                'stroke-width="1.5"/>'
                f'<line x1="{x1:.1f}" y1="{y - 6:.1f}" x2="{x1:.1f}" y2="{y + 6:.1f}" '
                'stroke="#1b1b1b" stroke-width="1.5"/>'
                f'<line x1="{x2:.1f}" y1="{y - 6:.1f}" x2="{x2:.1f}" y2="{y + 6:.1f}" '
                'stroke="#1b1b1b" stroke-width="1.5"/>'
            )
        minimum = minimums.get(name)
        if minimum is not None:
            xm = _x(float(minimum), 1.0)
            extra += (
                f'<line x1="{xm:.1f}" y1="{y - 10:.1f}" x2="{xm:.1f}" y2="{y + 10:.1f}" '
                f'stroke="{_LINE_DENY}" stroke-width="2.5"/>'
            )
        bad = minimum is not None and value < float(minimum)
        ci = (
            f" [{float(low):.3f}, {float(high):.3f}]"
            if isinstance(low, int | float) and isinstance(high, int | float)
            else ""
        )
        body += _bar_row(i, name, value, 1.0, f"{value:.3f}", bad, extra)
        if ci:
            body += (
                f'<text x="{_LABEL_W - 6}" y="{_TOP + i * _ROW + 26}" text-anchor="end" '
                f'font-size="10" fill="#4a4f55">CI{esc(ci)}</text>'
            )
    legend = "red tick: minimum" if minimums else ""
    if legend:
        body += (
            f'<text x="{_LABEL_W}" y="{_TOP + len(rows) * _ROW + 14}" fill="{_LINE_DENY}" '
            f'font-size="11">{legend}; whiskers: confidence interval</text>'
        )
    return _frame("Metrics with confidence intervals", len(rows), body)


def evidence_figures(
    evaluation: Mapping[str, Any],
    *,
    psi_warn: float = 0.1,
    psi_deny: float = 0.25,
    parity_ratio: float = 0.8,
    minimums: Mapping[str, float] | None = None,
) -> list[tuple[str, str]]:
    """(svg, caption) for each kind of evidence present in a gate result or attestation."""
    out = []
    drift = evaluation.get("drift")
    if isinstance(drift, Mapping) and isinstance(drift.get("features"), Mapping):
        out.append(
            (
                psi_chart(drift["features"], psi_warn, psi_deny),
                f"Drift of current data against the reference; deny at PSI >= {psi_deny:g}.",
            )
        )
    fairness = evaluation.get("fairness")
    if isinstance(fairness, Mapping) and isinstance(fairness.get("groups"), Mapping):
        column = fairness.get("group_column") or "group"
        out.append(
            (
                selection_rate_chart(fairness["groups"], parity_ratio),
                f"Selection rate by {column}; a group below the line fails the four-fifths rule "
                f"(ratio {parity_ratio:g}).",
            )
        )
    metrics = evaluation.get("metrics")
    if isinstance(metrics, Mapping) and metrics:
        out.append(
            (
                metrics_chart(metrics, minimums),
                "Point estimate with bootstrap confidence interval.",
            )
        )
    return out


def figures_html(figures: list[tuple[str, str]]) -> str:
    return "".join(
        f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>" for svg, caption in figures
    )
