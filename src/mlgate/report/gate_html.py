"""``mlgate gate --output html``: the gate's evidence as a page, with the report's charts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlgate.decision import Decision
from mlgate.report.evidence import evidence_html, thresholds
from mlgate.report.html import esc, outcome, page, table
from mlgate.timeutil import rfc3339


def render_gate_html(
    evidence: Mapping[str, Any],
    decision: Decision,
    *,
    policy_set: Any | None = None,
    tier: str | None = None,
    environment: str = "production",
    title: str = "mlgate promotion gate",
) -> str:
    """The page of one gate run: the engine's decision on the evidence, then its charts.
    ``tier`` None: undeclared, judged (and charted) at the strictest ("high") parameters."""
    params = thresholds(policy_set, tier or "high", environment)
    rows = [
        [f"<code>{esc(v.control)}</code>", esc(v.enforcement), esc(v.message)]
        for v in (*decision.violations, *decision.warnings)
    ]
    parts = [
        f'<div class="box" id="gate-decision">Promotion to {esc(environment)} '
        f"(tier {esc(tier or 'not given')}): {outcome(decision.allowed)}</div>"
        + table(["Control", "Enforcement", "Finding"], rows, table_id="gate-findings")
    ]
    parts.append("<h2>Evidence</h2>" + (evidence_html(evidence, params) or "<p>No charts.</p>"))
    revision = getattr(policy_set, "revision", "")
    subtitle = f"generated {esc(rfc3339())}" + (
        f" &middot; thresholds from policy revision <code>{esc(revision)}</code>"
        if revision
        else ""
    )
    return page(title, "".join(parts), subtitle=subtitle)
