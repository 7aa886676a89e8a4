"""Regulations -> articles -> controls -> policy tests -> how often each denied or warned."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.policyset.catalogue import Catalogue, Control
from mlgate.report.articles import REFERENCE_ARTICLES

_CITATION = re.compile(r"^(?P<reg>.+?)\s+(?P<kind>Art\.|Annex)\s+(?P<num>[0-9IVX]+)")
_TRACKED = ("EU AI Act", "GDPR")


@dataclass
class Article:
    regulation: str
    number: str  # "15", or "Annex III"
    title: str = ""
    citations: set[str] = field(default_factory=set)  # the exact paragraphs cited
    controls: list[Control] = field(default_factory=list)

    @property
    def label(self) -> str:
        prefix = "" if self.number.startswith("Annex") else "Art. "
        return f"{self.regulation} {prefix}{self.number}"

    @property
    def sort_key(self) -> tuple[str, int, str]:
        digits = re.match(r"\d+", self.number)
        return (self.regulation, int(digits.group(0)) if digits else 10_000, self.number)


def parse_citation(text: str) -> tuple[str, str] | None:
    """("EU AI Act", "15") for "EU AI Act Art. 15(5)"; ("EU AI Act", "Annex III") for annexes."""
    match = _CITATION.match(text.strip())
    if not match:
        return None
    if match.group("kind") == "Annex":
        return match.group("reg"), f"Annex {match.group('num')}"
    return match.group("reg"), match.group("num")


def articles(catalogue: Catalogue) -> list[Article]:
    """Every article the catalogue cites (any regulation) plus every reference article, with
    the controls citing it; a reference article without a control is a gap."""
    found: dict[tuple[str, str], Article] = {
        (reg, num): Article(reg, num, title) for reg, num, title in REFERENCE_ARTICLES
    }
    for control in catalogue.controls.values():
        for citation in control.regulations:
            parsed = parse_citation(citation)
            if parsed is None:
                continue
            article = found.setdefault(parsed, Article(*parsed))
            article.citations.add(citation)
            if control not in article.controls:
                article.controls.append(control)
    return sorted(found.values(), key=lambda a: a.sort_key)


def gaps(all_articles: list[Article]) -> list[Article]:
    return [a for a in all_articles if not a.controls and a.regulation in _TRACKED]


def tests_by_control(policy_tests: Path | None) -> dict[str, list[str]]:
    """The policy-test case names that check each control (a case names it in ``expect``)."""
    if policy_tests is None or not policy_tests.is_dir():
        return {}
    from mlgate.policytest.cases import Suite

    out: dict[str, list[str]] = defaultdict(list)
    for case in Suite(policy_tests).load():
        for control in sorted(_ids(case.expect)):
            out[control].append(f"{Path(case.file).name}: {case.name}")
    return dict(out)


def _ids(expect: Any) -> set[str]:
    ids: set[str] = set()
    if isinstance(expect, dict):
        for key, value in expect.items():
            if key == "messages" and isinstance(value, dict):
                ids |= set(value)
            elif key != "allowed":
                ids |= _ids(value)
    elif isinstance(expect, list):
        for value in expect:
            ids |= _ids(value)
    elif isinstance(expect, str) and re.fullmatch(r"[A-Z][A-Z0-9-]+", expect):
        ids.add(expect)
    return ids


def counts_by_control(records: list[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    """(denials, warnings) per control over decision records."""
    denied: Counter[str] = Counter()
    warned: Counter[str] = Counter()
    for body in records:
        denied.update(body.get("controls") or [])
        warned.update(body.get("warned") or [])
    return denied, warned
