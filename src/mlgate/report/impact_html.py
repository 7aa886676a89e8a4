"""The impact report as an HTML page (``mlgate impact -o html``, the console's impact view)."""

from __future__ import annotations

from mlgate.impact.compare import Group, ImpactReport
from mlgate.report.html import esc, outcome, page, table


def _group_table(groups: list[Group], what: str, table_id: str) -> str:
    rows = [
        [
            f"<code>{esc(g.key)}</code>" if what == "Control" else esc(g.key),
            "<br>".join(f"{esc(k)}: {n}" for k, n in sorted(g.counts.items())),
            "<br>".join(esc(e) for e in g.examples),
        ]
        for g in groups
    ]
    return table([what, "Changes", "Examples"], rows, table_id=table_id)


def impact_body(report: ImpactReport) -> str:
    s = report.summary()
    summary = (
        '<div class="box" id="impact-summary">'
        f"<strong>Current:</strong> {esc(report.current['label'])} "
        f"<code>{esc(report.current['revision'])}</code><br>"
        f"<strong>Proposed:</strong> {esc(report.proposed['label'])} "
        f"<code>{esc(report.proposed['revision'])}</code><br>"
        f"Replayed {s['replayed']} decision(s) from {esc(', '.join(report.sources))}; "
        f"<strong>{s['not_reproducible']}</strong> could not be reproduced exactly.<br>"
        f'<span class="deny">allow&rarr;deny {s["allow_to_deny"]}</span> &middot; '
        f'<span class="allow">deny&rarr;allow {s["deny_to_allow"]}</span> &middot; '
        f"deny reasons changed {s['deny_reasons_changed']} &middot; "
        f'<span class="warn">new warnings {s["new_warning"]}</span> &middot; '
        f"unchanged {s['unchanged']}</div>"
    )
    flips = [
        [
            esc(i.change),
            esc(i.ref),
            esc(i.label),
            esc(", ".join(i.models)),
            outcome(i.current.allowed if i.current else None),
            outcome(i.proposed.allowed if i.proposed else None),
            "<br>".join(
                [
                    f"+deny <code>{esc(c)}</code>: {esc(i.proposed_messages.get(c, ''))}"
                    for c in i.new_denials
                ]
                + [f"&minus;deny <code>{esc(c)}</code>" for c in i.lifted_denials]
                + [f"+warn <code>{esc(c)}</code>" for c in i.new_warnings]
            ),
        ]
        for i in report.flips
    ]
    unreproducible = [
        [esc(i.ref), esc(i.label), esc(i.when), f"<code>{esc(i.reason_code)}</code>", esc(i.reason)]
        for i in report.not_reproducible
    ]
    notes = "".join(f"<p class=muted>Note: {esc(n)}</p>" for n in report.notes)
    return (
        summary
        + notes
        + "<h2>By control</h2>"
        + _group_table(report.by_control(), "Control", "impact-by-control")
        + "<h2>By namespace</h2>"
        + _group_table(report.by_namespace(), "Namespace", "impact-by-namespace")
        + "<h2>By model</h2>"
        + _group_table(report.by_model(), "Model", "impact-by-model")
        + "<h2>Flips</h2>"
        + table(
            ["Change", "Source", "Object", "Models", "Current", "Proposed", "Details"],
            flips,
            table_id="impact-flips",
        )
        + "<h2>Not reproducible</h2><p class=muted>Inputs that cannot be replayed exactly are "
        "reported here, not guessed.</p>"
        + table(
            ["Source", "Object", "Recorded", "Code", "Reason"],
            unreproducible,
            table_id="impact-unreproducible",
        )
    )


def render_impact_html(report: ImpactReport) -> str:
    subtitle = f"generated {esc(report.generated_at)}"
    return page("mlgate impact analysis", impact_body(report), subtitle=subtitle)
