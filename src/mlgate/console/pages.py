"""The console's pages, rendered on the server from the report's HTML fragments."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from mlgate.audit.masking import Masker
from mlgate.console.data import MAX_ROWS, OUTCOMES, DecisionFilter
from mlgate.policyset import PolicySet
from mlgate.report.compliance import INVENTORY_HEADERS, inventory_rows
from mlgate.report.evidence import evidence_html, thresholds
from mlgate.report.html import esc, outcome, page, table
from mlgate.report.inventory import ModelEntry
from mlgate.timeutil import now_ns, rfc3339

NAV = (
    ("Models", "/models"),
    ("Decisions", "/decisions"),
    ("Controls", "/controls"),
    ("Exemptions", "/exemptions"),
    ("Impact", "/impact"),
)
_NS_PER_DAY = 86_400 * 1_000_000_000


def shell(title: str, body: str, current: str, revision: str) -> str:
    subtitle = (
        f"read-only &middot; policy revision <code>{esc(revision)}</code> &middot; "
        f"rendered {esc(rfc3339()[:19])}Z &middot; <a href=/logout>sign out</a>"
    )
    return page(f"mlgate console: {title}", body, subtitle=subtitle, nav=NAV, current=current)


def login_page(error: str = "") -> str:
    message = f'<p class="deny" role="alert">{esc(error)}</p>' if error else ""
    body = (
        "<h2>Sign in</h2>"
        f"{message}"
        '<form method="post" action="/login" class="filters">'
        '<label for="token">Access token'
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        "</label><button type=submit>Sign in</button></form>"
        '<p class="muted">Ask the platform team for the console token; API clients send it as '
        "<code>Authorization: Bearer</code>.</p>"
    )
    return page("mlgate console", body)


def models_page(models: list[ModelEntry], policy_set: PolicySet) -> str:
    charts = []
    seen: set[str] = set()
    for m in models:
        key = json.dumps([m.model, m.evidence], sort_keys=True)
        if not m.evidence or key in seen:
            continue
        seen.add(key)
        figures = evidence_html(m.evidence, thresholds(policy_set, m.tier, m.environment))
        if figures:
            charts.append(
                f"<h3>{esc(m.model)} <span class=muted>({esc(m.namespace)})</span></h3>{figures}"
            )
    body = (
        "<h2>Models</h2>"
        f"<p>{len(models)} model(s) seen in the decision log, at their latest decision.</p>"
        + table(
            INVENTORY_HEADERS, inventory_rows(models, now_ns()), table_id="models-table", wide=(8,)
        )
        + "<h2>Promotion evidence</h2>"
        + ("".join(charts) or "<p>No model carries promotion evidence.</p>")
    )
    return shell("models", body, "/models", policy_set.revision)


def _select(name: str, label: str, options: Sequence[str], chosen: str, any_label: str) -> str:
    opts = [f'<option value=""{" selected" if not chosen else ""}>{esc(any_label)}</option>']
    opts += [
        f'<option value="{esc(o)}"{" selected" if o == chosen else ""}>{esc(o)}</option>'
        for o in options
    ]
    return f'<label for="{name}">{esc(label)}<select id="{name}" name="{name}">{"".join(opts)}</select></label>'


def decisions_page(
    rows: list[dict[str, Any]],
    truncated: bool,
    flt: DecisionFilter,
    raw: dict[str, str],
    namespaces: list[str],
    controls: list[str],
    revision: str,
    error: str = "",
) -> str:
    outcome_opts = "".join(
        f'<option value="{o}"{" selected" if o == flt.outcome else ""}>{o}</option>'
        for o in OUTCOMES
    )
    form = (
        '<form method="get" action="/decisions" class="filters" aria-label="Filter decisions">'
        + _select("namespace", "Namespace", namespaces, flt.namespace, "all namespaces")
        + _select("control", "Control", controls, flt.control, "all controls")
        + f'<label for="outcome">Outcome<select id="outcome" name="outcome">{outcome_opts}</select></label>'
        + f'<label for="since">From (7d, 12h or RFC 3339)<input id="since" name="since" value="{esc(raw.get("since", ""))}"></label>'
        + f'<label for="until">To<input id="until" name="until" value="{esc(raw.get("until", ""))}"></label>'
        + "<button type=submit>Filter</button></form>"
    )
    problem = f'<p class="deny" role="alert">{esc(error)}</p>' if error else ""
    body_rows = [
        [
            f'<a href="/decisions/{r["seq"]}">{r["seq"]}</a>',
            esc(str(r.get("ts", ""))[:19]) + "Z",
            outcome(bool(r.get("allowed"))),
            esc(r.get("kind", "")),
            esc(r.get("namespace", "")),
            esc(r.get("name", "")),
            esc(r.get("user", "")),
            esc(", ".join(r.get("controls") or [])),
            esc(", ".join(r.get("warned") or [])),
        ]
        for r in rows
    ]
    note = (
        f"<p class=warn>Showing the newest {MAX_ROWS} matches; narrow the filter.</p>"
        if truncated
        else f"<p>{len(rows)} matching decision(s), newest first.</p>"
    )
    body = (
        "<h2>Decisions</h2>"
        + form
        + problem
        + note
        + table(
            [
                "#",
                "Time (UTC)",
                "Outcome",
                "Kind",
                "Namespace",
                "Name",
                "User (masked)",
                "Denied by",
                "Warnings",
            ],
            body_rows,
            table_id="decisions-table",
        )
    )
    return shell("decisions", body, "/decisions", revision)


def decision_page(record: dict[str, Any], revision: str) -> str:
    decision = record.get("decision") or {}
    findings = [
        [f"<code>{esc(v.get('control'))}</code>", esc(v.get("enforcement")), esc(v.get("severity")),
         esc(v.get("message")), esc(", ".join(v.get("regulations") or [])), esc(v.get("remediation"))]
        for v in (*decision.get("violations", []), *decision.get("warnings", []))
    ]  # fmt: skip
    facts = [
        ["Outcome", outcome(bool(record.get("allowed")))],
        ["Time", esc(record.get("ts"))],
        ["Object", esc(f"{record.get('kind')}/{record.get('namespace')}/{record.get('name')}")],
        ["User (masked)", esc(record.get("user"))],
        ["Groups", esc(", ".join(record.get("groups") or []))],
        ["Risk tier", esc(record.get("risk_tier"))],
        ["Policy revision", f"<code>{esc(record.get('policy_revision'))}</code>"],
        ["Decision id", f"<code>{esc(record.get('decision_id'))}</code>"],
    ]
    body = (
        f"<h2>Decision {record['seq']}</h2>"
        + table(["Fact", "Value"], facts, table_id="decision-facts")
        + "<h2>Findings</h2>"
        + table(
            ["Control", "Enforcement", "Severity", "Message", "Regulations", "Fix"],
            findings,
            table_id="decision-findings",
        )
        + '<p><a href="/decisions">Back to decisions</a></p>'
    )
    return shell(f"decision {record['seq']}", body, "/decisions", revision)


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def controls_page(policy_set: PolicySet) -> str:
    params = thresholds(policy_set, "high", "production")
    rows = []
    for c in policy_set.catalogue.controls.values():
        overrides = [f"env {k}: {v}" for k, v in c.environment_overrides.items()]
        overrides += [f"ns {k}: {v}" for k, v in c.namespace_overrides.items()]
        parameters = "<br>".join(
            f"<code>{esc(p)}</code> = {esc(json.dumps(_lookup(params, p)))}" for p in c.parameters
        )
        rows.append(
            [
                f'<code id="{esc(c.id)}">{esc(c.id)}</code>',
                esc(c.group),
                esc(c.title),
                "<br>".join(esc(r) for r in c.regulations),
                esc(c.severity),
                esc(c.enforcement)
                + (
                    "<br><span class=muted>" + esc("; ".join(overrides)) + "</span>"
                    if overrides
                    else ""
                ),
                parameters or '<span class="muted">none</span>',
            ]
        )
    body = (
        "<h2>Controls</h2>"
        f"<p>{len(rows)} controls from the catalogue. Parameter values are those resolved for a "
        "high-risk model in production (params.yaml).</p>"
        + table(
            ["Control", "Group", "Title", "Articles", "Severity", "Enforcement", "Parameters"],
            rows,
            table_id="controls-table",
        )
    )
    return shell("controls", body, "/controls", policy_set.revision)


def exemptions_page(policy_set: PolicySet, masker: Masker) -> str:
    now = now_ns()
    rows = []
    for e in sorted(policy_set.exemptions, key=lambda e: e.expires_ns):
        days = (e.expires_ns - now) / _NS_PER_DAY
        status = (
            f'<span class="deny">expired {abs(days):.0f} d ago</span>'
            if days < 0
            else f'<span class="warn">expires in {days:.0f} d</span>'
            if days < 30
            else f'<span class="allow">active, {days:.0f} d left</span>'
        )
        scope = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("namespace", e.namespace),
                ("model", e.model),
                ("environment", e.environment),
            )
            if v
        )
        rows.append(
            [esc(e.id), f"<code>{esc(e.control)}</code>", esc(scope or "everywhere"), esc(e.expires),
             status, esc(masker.text(e.approver)), esc(masker.text(e.reason))]
        )  # fmt: skip
    body = (
        "<h2>Exemptions</h2>"
        "<p>Every exemption in exemptions.yaml, soonest expiry first. Expired exemptions no "
        "longer apply; decisions that would have used them carry a warning.</p>"
        + table(
            ["Exemption", "Control", "Scope", "Expires", "Status", "Approver (masked)", "Reason"],
            rows,
            table_id="exemptions-table",
        )
    )
    return shell("exemptions", body, "/exemptions", policy_set.revision)


def impact_page(body: str, revision: str) -> str:
    return shell("impact", "<h2>Impact analysis</h2>" + body, "/impact", revision)


def query(**params: str) -> str:
    return urlencode({k: v for k, v in params.items() if v})
