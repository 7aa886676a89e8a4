"""Checking a decision against a case's ``expect`` block: the differences, in words."""

from __future__ import annotations

from typing import Any


def summarize(decision: Any) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "risk_tier": decision.risk_tier,
        "violations": sorted({v.control for v in decision.violations}),
        "warnings": sorted({v.control for v in decision.warnings}),
        "audits": sorted({v.control for v in decision.audits}),
        "exemptions": sorted({e.control for e in decision.exemptions}),
    }


def format_ids(ids: list[str] | set[str]) -> str:
    return "[" + ", ".join(sorted(ids)) + "]"


def check_expectation(expect: dict[str, Any], decision: Any) -> list[str]:
    """Human-readable differences between ``expect`` and ``decision`` ([] if it matches)."""
    actual = summarize(decision)
    problems: list[str] = []
    if "allowed" in expect and expect["allowed"] != actual["allowed"]:
        problems.append(f"allowed: expected {expect['allowed']}, got {actual['allowed']}")
    if "risk_tier" in expect and expect["risk_tier"] != actual["risk_tier"]:
        problems.append(f"risk_tier: expected {expect['risk_tier']}, got {actual['risk_tier']}")
    exact = bool(expect.get("exact", False))
    exemption_ids = {e.id for e in decision.exemptions}
    for key in ("violations", "warnings", "audits", "exemptions"):
        if key not in expect:
            continue
        want = set(expect[key])
        have = set(actual[key]) | (exemption_ids if key == "exemptions" else set())
        missing = want - have
        extra = set(actual[key]) - want if exact else set()
        if missing or extra:
            detail = []
            if missing:
                detail.append(f"missing {format_ids(missing)}")
            if extra:
                detail.append(f"unexpected {format_ids(extra)}")
            relation = "==" if exact else "⊇"
            problems.append(
                f"{key}: expected {relation} {format_ids(want)}, got {format_ids(actual[key])} ({'; '.join(detail)})"
            )
    denied = set(actual["violations"])
    for cid in expect.get("not_violations", []):
        if cid in denied:
            problems.append(f"not_violations: {cid} was denied: {_messages(decision, cid)}")
    everywhere = (
        denied | set(actual["warnings"]) | set(actual["audits"]) | set(actual["exemptions"])
    )
    for cid in expect.get("absent", []):
        if cid in everywhere:
            problems.append(f"absent: {cid} was reported: {_messages(decision, cid)}")
    for cid, texts in expect.get("messages", {}).items():
        wanted = [texts] if isinstance(texts, str) else list(texts)
        found = _all_messages(decision, cid)
        for text in wanted:
            if not any(text in message for message in found):
                shown = "; ".join(found) if found else "no finding of that control"
                problems.append(f"messages: no {cid} message contains {text!r} (got: {shown})")
    return problems


def _all_messages(decision: Any, control: str) -> list[str]:
    items = [*decision.violations, *decision.warnings, *decision.audits]
    out = [v.message for v in items if v.control == control]
    out += [e.message for e in decision.exemptions if e.control == control]
    return out


def _messages(decision: Any, control: str) -> str:
    return "; ".join(_all_messages(decision, control))[:400]
