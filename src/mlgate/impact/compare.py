"""Classifies replayed items into flips and groups them by control, namespace and model."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from mlgate.impact.model import (
    ALLOW_TO_DENY,
    CHANGES,
    NEW_WARNING,
    NOT_REPRODUCIBLE,
    UNCHANGED,
    ReplayItem,
)
from mlgate.timeutil import rfc3339

EXAMPLES_PER_GROUP = 3


@dataclass
class Group:
    key: str
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, change: str, item: ReplayItem) -> None:
        self.counts[change] += 1
        example = f"{item.ref}: {item.label}"
        if len(self.examples) < EXAMPLES_PER_GROUP and example not in self.examples:
            self.examples.append(example)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "counts": {c: self.counts[c] for c in CHANGES if self.counts[c]},
            "total": sum(self.counts.values()),
            "examples": list(self.examples),
        }


@dataclass
class ImpactReport:
    current: dict[str, str]  # label, kind, revision
    proposed: dict[str, str]
    window: dict[str, str | None]
    sources: list[str]
    items: list[ReplayItem]
    generated_at: str = field(default_factory=rfc3339)
    notes: list[str] = field(default_factory=list)

    @property
    def flips(self) -> list[ReplayItem]:
        return [i for i in self.items if i.change and i.change != UNCHANGED]

    @property
    def not_reproducible(self) -> list[ReplayItem]:
        return [i for i in self.items if i.status == NOT_REPRODUCIBLE]

    def summary(self) -> dict[str, int]:
        counts = Counter(i.change for i in self.items if i.change)
        return {
            "replayed": sum(1 for i in self.items if i.change),
            "not_reproducible": len(self.not_reproducible),
            "unchanged": counts[UNCHANGED],
            **{
                change.replace("->", "_to_").replace("-", "_"): counts[change] for change in CHANGES
            },
        }

    def by_control(self) -> list[Group]:
        """Each control that starts or stops denying, or starts warning, somewhere."""
        groups: dict[str, Group] = defaultdict(lambda: Group(""))
        for item in self.flips:
            for control in item.new_denials:
                groups[control].add("newly-denies", item)
            for control in item.lifted_denials:
                groups[control].add("no-longer-denies", item)
            for control in item.new_warnings:
                groups[control].add(NEW_WARNING, item)
        return _named(groups)

    def by_namespace(self) -> list[Group]:
        groups: dict[str, Group] = defaultdict(lambda: Group(""))
        for item in self.flips:
            groups[item.namespace or "(none)"].add(item.change, item)
        return _named(groups)

    def by_model(self) -> list[Group]:
        groups: dict[str, Group] = defaultdict(lambda: Group(""))
        for item in self.flips:
            for model in item.models or [item.name]:
                groups[model].add(item.change, item)
        return _named(groups)

    @property
    def blocking(self) -> bool:
        """Would the proposed set deny something the current one admits?"""
        return any(i.change == ALLOW_TO_DENY for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "proposed": self.proposed,
            "window": self.window,
            "sources": self.sources,
            "generated_at": self.generated_at,
            "summary": self.summary(),
            "by_control": [g.to_dict() | {"counts": dict(g.counts)} for g in self.by_control()],
            "by_namespace": [g.to_dict() for g in self.by_namespace()],
            "by_model": [g.to_dict() for g in self.by_model()],
            "flips": [i.to_dict() for i in self.flips],
            "not_reproducible": [i.to_dict() for i in self.not_reproducible],
            "notes": list(self.notes),
        }


def _named(groups: dict[str, Group]) -> list[Group]:
    for key, group in groups.items():
        group.key = key
    return sorted(groups.values(), key=lambda g: (-sum(g.counts.values()), g.key))


def build_report(
    items: list[ReplayItem],
    *,
    current: dict[str, str],
    proposed: dict[str, str],
    window: dict[str, str | None],
    sources: list[str],
    notes: list[str] | None = None,
) -> ImpactReport:
    return ImpactReport(current, proposed, window, sources, items, notes=list(notes or []))
