"""Exemptions (policies/exemptions.yaml): a control waived for a scope, until an expiry.

Like Kyverno's PolicyException, but always time-boxed and always reported: an applied
exemption is listed in the decision, and an expired one raises a warning instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlgate.errors import InputError, PolicyError
from mlgate.policyset.catalogue import Catalogue
from mlgate.policyset.validation import check
from mlgate.policyset.yamlfile import load_yaml_file
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
    check(document, "exemptions.schema.json", lines)
    seen: set[str] = set()
    out = []
    for i, raw in enumerate(document["exemptions"]):
        where = lines.where(f"/exemptions/{i}")
        if raw["id"] in seen:
            raise PolicyError(f"duplicate exemption id {raw['id']!r}", location=where)
        seen.add(raw["id"])
        if catalogue.get(raw["control"]) is None:
            raise PolicyError(
                f"exemption {raw['id']!r} names unknown control {raw['control']!r}",
                location=lines.where(f"/exemptions/{i}/control"),
            )
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
    return tuple(out)


def to_ns(value: object, *, where: str, end_of_day: bool = False) -> int:
    """A date in a policy file: a bad one is a policy error (exit 2 at load), with its line."""
    try:
        return _to_ns(value, where=where, end_of_day=end_of_day)
    except InputError as err:
        raise PolicyError(err.message, location=err.location) from None
