"""The controls catalogue (policies/controls.yaml): what each control means and how it bites."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.policyset.validation import DUPLICATE, PolicyDataError, Problem, check
from mlgate.policyset.yamlfile import LineMap, load_yaml_file

# Tiers that select the strictest parameters when the tier is not known.
TIERS = ("prohibited", "high", "limited", "minimal", "unknown")


@dataclass(frozen=True)
class Control:
    id: str
    group: str
    title: str
    rationale: str
    regulations: tuple[str, ...]
    tiers: tuple[str, ...]
    environments: tuple[str, ...]
    severity: str
    enforcement: str
    remediation: str
    environment_overrides: dict[str, str] = field(default_factory=dict)
    namespace_overrides: dict[str, str] = field(default_factory=dict)
    parameters: tuple[str, ...] = ()
    line: int | None = None

    def applies(self, tier: str, environment: str) -> bool:
        tier_ok = "any" in self.tiers or tier in self.tiers
        env_ok = "any" in self.environments or environment in self.environments
        return tier_ok and env_ok

    def enforcement_for(self, environment: str, namespace: str) -> str:
        # The narrower scope wins: a namespace override beats an environment override.
        if namespace in self.namespace_overrides:
            return self.namespace_overrides[namespace]
        return self.environment_overrides.get(environment, self.enforcement)


@dataclass(frozen=True)
class Catalogue:
    path: str
    controls: dict[str, Control]
    # Where each part of controls.yaml came from, for cross-file errors with file:line.
    lines: LineMap | None = field(default=None, compare=False, repr=False)
    index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def get(self, control_id: str) -> Control | None:
        return self.controls.get(control_id)

    def __len__(self) -> int:
        return len(self.controls)


def load_catalogue(path: Path) -> Catalogue:
    document, lines = load_yaml_file(path)
    return parse_catalogue(document, lines)


def parse_catalogue(document: Any, lines: LineMap) -> Catalogue:
    """A validated catalogue from a parsed controls.yaml (PolicyDataError if it is wrong)."""
    check(document, "controls.schema.json", lines)
    controls: dict[str, Control] = {}
    index: dict[str, int] = {}
    for i, raw in enumerate(document["controls"]):
        where = lines.where(f"/controls/{i}/id")
        if raw["id"] in controls:
            raise PolicyDataError(
                [Problem(DUPLICATE, where, f"duplicate control id {raw['id']!r}")]
            )
        index[raw["id"]] = i
        applies = raw["applies_to"]
        overrides = raw.get("enforcement_overrides", {})
        controls[raw["id"]] = Control(
            id=raw["id"],
            group=raw["group"],
            title=raw["title"].strip(),
            rationale=" ".join(raw["rationale"].split()),
            regulations=tuple(raw["regulations"]),
            tiers=tuple(applies.get("tiers", ["any"])),
            environments=tuple(applies.get("environments", ["any"])),
            severity=raw["severity"],
            enforcement=raw["enforcement"],
            remediation=" ".join(raw["remediation"].split()),
            environment_overrides=dict(overrides.get("environments", {})),
            namespace_overrides=dict(overrides.get("namespaces", {})),
            parameters=tuple(raw.get("parameters", [])),
            line=lines.line(f"/controls/{i}"),
        )
    return Catalogue(path=lines.path, controls=controls, lines=lines, index=index)
