"""A decision's findings as text lines: what ``check`` and ``gate`` print for each decision."""

from __future__ import annotations

from mlgate.decision import Decision


def finding_lines(decision: Decision, *, color: bool = False) -> list[str]:
    """Denials (with regulation and fix), warnings, exemptions and audit findings, in order."""
    red, yellow, dim, reset = ("\033[31m", "\033[33m", "\033[2m", "\033[0m") if color else ("",) * 4
    lines: list[str] = []
    for v in decision.violations:
        lines.append(f"  {red}✗ {v.control}{reset} [{v.severity}] {v.message}")
        lines.append(f"      {dim}regulation:{reset} {', '.join(v.regulations)}")
        lines.append(f"      {dim}fix:{reset} {v.remediation}")
    for v in decision.warnings:
        lines.append(f"  {yellow}! {v.control}{reset} (warn) {v.message}")
    for e in decision.exemptions:
        lines.append(
            f"  {dim}~ {e.control} exempted by {e.id} (approved by {e.approver}, "
            f"expires {e.expires}): {e.reason}{reset}"
        )
    for v in decision.audits:
        lines.append(f"  {dim}· {v.control} (audit) {v.message}{reset}")
    return lines
