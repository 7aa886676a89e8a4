"""What the card's own purpose text says about its AI Act classification.

The intended purpose (governance.intended_use, model_details.overview, considerations
use cases) is matched against params.yaml ``classification.annex_iii_terms``; the policy
(TIER-ANNEX-III) compares the matches with the tier the card claims. Matching is plain
case-insensitive substring search, done here because it is text processing, not policy.
"""

from __future__ import annotations

from typing import Any

from mlgate.shapes import mapping, sequence


def purpose_text(card: Any) -> str:
    if not isinstance(card, dict):
        return ""
    governance = mapping(card.get("governance"))
    details = mapping(card.get("model_details"))
    parts = [governance.get("intended_use"), details.get("overview")]
    for item in sequence(mapping(card.get("considerations")).get("use_cases")):
        if isinstance(item, dict):
            parts.append(item.get("description"))
    return " ".join(p for p in parts if isinstance(p, str)).casefold()


def annex_iii_matches(card: Any, terms: dict[str, list[str]]) -> list[list[str]]:
    """Sorted ``[area, term]`` pairs whose term occurs in the card's purpose text."""
    text = purpose_text(card)
    if not text:
        return []
    return sorted(
        [area, term]
        for area, listed in terms.items()
        for term in listed
        if isinstance(term, str) and term.casefold() in text
    )
