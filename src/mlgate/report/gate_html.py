"""``mlgate gate --output html``: the gate's evidence as a page, with the report's charts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgate.report.evidence import evidence_html, thresholds
from mlgate.report.html import esc, outcome, page, table
from mlgate.timeutil import rfc3339


def render_gate_html(
    evidence: Mapping[str, Any],
    breaches: list[str],
    *,
    decision: Any | None = None,
    policy_set: Any | None = None,
    tier: str = "high",
    environment: str = "production",
    title: str = "mlgate promotion gate",
) -> str:
    params = thresholds(policy_set, tier, environment)
    parts = []
    if decision is not None:
        rows = [
            [f"<code>{esc(v.control)}</code>", esc(v.enforcement), esc(v.message)]
            for v in (*decision.violations, *decision.warnings)
        ]
        parts.append(
            f'<div class="box" id="gate-decision">Promotion to {esc(environment)} '
            f"(tier {esc(tier)}): {outcome(decision.allowed)}</div>"
            + table(["Control", "Enforcement", "Finding"], rows, table_id="gate-findings")
        )
    parts.append(
        "<h2>Breaches</h2>"
        + (
            "<ul>" + "".join(f"<li>{esc(b)}</li>" for b in breaches) + "</ul>"
            if breaches
            else "<p>No deny-level breach in the evidence.</p>"
        )
    )
    parts.append("<h2>Evidence</h2>" + (evidence_html(evidence, params) or "<p>No charts.</p>"))
    revision = getattr(policy_set, "revision", "")
    subtitle = f"generated {esc(rfc3339())}" + (
        f" &middot; thresholds from policy revision <code>{esc(revision)}</code>"
        if revision
        else ""
    )
    return page(title, "".join(parts), subtitle=subtitle)
