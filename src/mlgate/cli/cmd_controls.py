"""``mlgate controls``: the controls catalogue, readable by people and machines.

``--output markdown`` renders docs/controls.md (``mlgate controls -o markdown > docs/controls.md``).
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from mlgate.cli.main import EXIT_OK
from mlgate.errors import InputError

OUTPUTS = ("table", "json", "markdown")

GROUP_TITLES = {
    "risk-tiering": "Risk tiering (EU AI Act Art. 5, 6, Annex III)",
    "high-risk": "High-risk obligations (EU AI Act Chapter III, Art. 27, 49, 50, 72, 73)",
    "gdpr": "GDPR",
    "supply-chain": "Supply chain",
    "promotion": "Promotion gates",
    "access": "Access",
    "schema": "Schema",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "controls",
        help="list the controls catalogue (policies/controls.yaml)",
        description="Lists every control with its scope, severity, enforcement and regulations.",
    )
    p.add_argument("--output", "-o", choices=OUTPUTS, default="table")
    p.add_argument("--group", "-g", help="only this group (e.g. gdpr, supply-chain)")
    p.add_argument(
        "--policies",
        type=Path,
        default=None,
        help="policy directory (default: $MLGATE_POLICIES or the shipped policies/)",
    )
    p.set_defaults(handler=run)


def control_dict(control: Any) -> dict[str, Any]:
    return {
        "id": control.id,
        "group": control.group,
        "title": control.title,
        "rationale": control.rationale,
        "regulations": list(control.regulations),
        "applies_to": {"tiers": list(control.tiers), "environments": list(control.environments)},
        "severity": control.severity,
        "enforcement": control.enforcement,
        "enforcement_overrides": {
            "environments": dict(control.environment_overrides),
            "namespaces": dict(control.namespace_overrides),
        },
        "parameters": list(control.parameters),
        "remediation": control.remediation,
        "line": control.line,
    }


def enforcement_text(control: Any) -> str:
    """``deny (staging: warn, development: audit; namespace ml-research: audit)``."""
    parts = [f"{env}: {mode}" for env, mode in control.environment_overrides.items()]
    parts += [f"namespace {ns}: {mode}" for ns, mode in control.namespace_overrides.items()]
    return f"{control.enforcement} ({', '.join(parts)})" if parts else control.enforcement


def scope_text(control: Any) -> str:
    tiers = "any tier" if "any" in control.tiers else "/".join(control.tiers)
    envs = "any environment" if "any" in control.environments else "/".join(control.environments)
    return f"{tiers}; {envs}"


def selected(catalogue: Any, group: str | None) -> list[Any]:
    controls = list(catalogue.controls.values())
    if group is None:
        return controls
    chosen = [c for c in controls if c.group == group]
    if not chosen:
        groups = ", ".join(sorted({c.group for c in controls}))
        raise InputError(f"no controls in group {group!r} (groups: {groups})")
    return chosen


def render_table(controls: list[Any]) -> str:
    lines: list[str] = []
    group = None
    for c in controls:
        if c.group != group:
            group = c.group
            if lines:
                lines.append("")
            lines.append(f"== {GROUP_TITLES.get(group, group)} ==")
        lines.append(f"{c.id}  [{c.severity}]  {c.title}")
        lines.append(f"    enforcement: {enforcement_text(c)}")
        lines.append(f"    applies to:  {scope_text(c)}")
        lines.append(f"    regulations: {', '.join(c.regulations)}")
        lines.append(
            textwrap.fill(
                c.remediation,
                width=100,
                initial_indent="    fix:         ",
                subsequent_indent=" " * 17,
            )
        )
    groups = len({c.group for c in controls})
    lines.append("")
    lines.append(f"{len(controls)} controls in {groups} groups")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(controls: list[Any], source: str) -> str:
    out = [
        "# Controls",
        "",
        f"Generated from `{source}` with `mlgate controls --output markdown`; do not edit by hand.",
        "Enforcement is the default mode; overrides per environment or namespace follow in",
        "parentheses. An unknown environment is evaluated as production; an unknown risk tier is",
        "matched by `unknown` and uses the high-risk parameters.",
        "",
    ]
    groups: dict[str, list[Any]] = {}
    for c in controls:
        groups.setdefault(c.group, []).append(c)
    out.append(f"{len(controls)} controls in {len(groups)} groups:")
    out.append("")
    for group, items in groups.items():
        out.append(f"- [{GROUP_TITLES.get(group, group)}](#{group}) ({len(items)})")
    for group, items in groups.items():
        out += ["", f'<a id="{group}"></a>', f"## {GROUP_TITLES.get(group, group)}", ""]
        out.append("| Control | Checks | Regulations | Applies to | Severity | Enforcement |")
        out.append("|---|---|---|---|---|---|")
        for c in items:
            out.append(
                f"| `{c.id}` | {_md(c.title)} | {_md(', '.join(c.regulations))} | "
                f"{_md(scope_text(c))} | {c.severity} | {_md(enforcement_text(c))} |"
            )
        for c in items:
            out += ["", f"### {c.id}", "", _md(c.rationale), ""]
            if c.parameters:
                params = ", ".join(f"`{p}`" for p in c.parameters)
                out.append(f"- Parameters (params.yaml): {params}")
            out.append(f"- Fix: {_md(c.remediation)}")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    from mlgate.policyset import default_policy_dir
    from mlgate.policyset.catalogue import load_catalogue

    root = args.policies or default_policy_dir()
    path = Path(root) / "controls.yaml"
    catalogue = load_catalogue(path)
    controls = selected(catalogue, args.group)
    if args.output == "json":
        print(json.dumps([control_dict(c) for c in controls], indent=2))
    elif args.output == "markdown":
        print(render_markdown(controls, "policies/controls.yaml"), end="")
    else:
        print(render_table(controls))
    return EXIT_OK
