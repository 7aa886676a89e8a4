"""Exemptions (policies/exemptions.yaml): a control waived for a scope, until an expiry.

Like Kyverno's PolicyException, but always time-boxed and always reported: an applied
exemption is listed in the decision, and an expired one raises a warning instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.errors import InputError, PolicyError
from mlgate.policyset.catalogue import Catalogue
from mlgate.policyset.validation import (
    DUPLICATE,
    UNKNOWN_NAME,
    UNKNOWN_REFERENCE,
    Problem,
    check,
    raise_if,
    suggest,
)
from mlgate.policyset.yamlfile import LineMap, load_yaml_file
from mlgate.timeutil import to_ns as _to_ns


@dataclass(frozen=True)
class Exemption:
    id: str
    control: str
    namespace: str | None
    model: str | None
    environment: str | None
    reason: str
    approver: str
    expires: str
    expires_ns: int

    def matches(self, control: str, namespace: str, model: str, environment: str) -> bool:
        return (
            self.control == control
            and (self.namespace is None or self.namespace == namespace)
            and (self.model is None or self.model == model)
            and (self.environment is None or self.environment == environment)
        )


def load_exemptions(path: Path, catalogue: Catalogue) -> tuple[Exemption, ...]:
    if not path.exists():
        return ()
    document, lines = load_yaml_file(path)
    return parse_exemptions(document, lines, catalogue)


def parse_exemptions(
    document: Any, lines: LineMap, catalogue: Catalogue, environments: Sequence[str] = ()
) -> tuple[Exemption, ...]:
    """Validated exemptions from a parsed exemptions.yaml; ``environments`` (when given) are
    the ones params.yaml defines, which a scope may name."""
    check(document, "exemptions.schema.json", lines)
    seen: set[str] = set()
    out = []
    problems: list[Problem] = []
    for i, raw in enumerate(document["exemptions"]):
        if raw["id"] in seen:
            problems.append(
                Problem(
                    DUPLICATE,
                    lines.where(f"/exemptions/{i}/id"),
                    f"duplicate exemption id {raw['id']!r}",
                )
            )
        seen.add(raw["id"])
        if catalogue.get(raw["control"]) is None:
            problems.append(
                Problem(
                    UNKNOWN_REFERENCE,
                    lines.where(f"/exemptions/{i}/control"),
                    f"exemption {raw['id']!r} names unknown control {raw['control']!r}",
                    suggest(raw["control"], catalogue.controls),
                )
            )
        env = raw["scope"].get("environment")
        if environments and env is not None and env not in environments:
            problems.append(
                Problem(
                    UNKNOWN_NAME,
                    lines.where(f"/exemptions/{i}/scope/environment"),
                    f"unknown environment {env!r} (known: {', '.join(environments)})",
                    suggest(env, environments),
                )
            )
        if problems:
            continue
        expires = str(raw["expires"])
        scope = raw["scope"]
        out.append(
            Exemption(
                id=raw["id"],
                control=raw["control"],
                namespace=scope.get("namespace"),
                model=scope.get("model"),
                environment=scope.get("environment"),
                reason=" ".join(raw["reason"].split()),
                approver=raw["approver"],
                expires=expires,
                expires_ns=to_ns(
                    raw["expires"], where=lines.where(f"/exemptions/{i}/expires"), end_of_day=True
                ),
            )
        )
    raise_if(problems)
    return tuple(out)


def to_ns(value: object, *, where: str, end_of_day: bool = False) -> int:
    """A date in a policy file: a bad one is a policy error (exit 2 at load), with its line."""
    try:
        return _to_ns(value, where=where, end_of_day=end_of_day)
    except InputError as err:
        raise PolicyError(err.message, location=err.location, code=err.code) from None
