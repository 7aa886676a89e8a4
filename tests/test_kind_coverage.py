"""The webhook's rules, the subject adapters and the operator guide list the same kinds."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlgate.subjects import ADAPTERS

REPO = Path(__file__).resolve().parents[1]


def webhook_rules() -> set[tuple[str, str, str, str]]:
    doc = yaml.safe_load((REPO / "webhook/base/validatingwebhook.yaml").read_text())
    out = set()
    for hook in doc["webhooks"]:
        for rule in hook["rules"]:
            assert set(rule["operations"]) >= {"CREATE", "UPDATE"}, rule
            for group in rule["apiGroups"]:
                for version in rule["apiVersions"]:
                    for resource in rule["resources"]:
                        if "/" not in resource:  # subresources (pods/ephemeralcontainers)
                            out.add((group, version, resource, rule["scope"]))
    return out


def guide_kinds() -> set[tuple[str, str]]:
    text = (REPO / "docs/operator-guide.md").read_text()
    table = text.split("<!-- kinds:begin -->")[1].split("<!-- kinds:end -->")[0]
    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \|", table, flags=re.M)
    return {("" if g.strip() == "(core)" else g.strip(), k.strip()) for g, k in rows[1:]}


def test_webhook_rules_route_exactly_the_adapted_kinds() -> None:
    expected = {(a.group, v, a.resource, a.scope) for a in ADAPTERS for v in a.versions}
    assert webhook_rules() == expected


def test_operator_guide_lists_exactly_the_adapted_kinds() -> None:
    assert guide_kinds() == {(a.group, a.kind) for a in ADAPTERS}


def test_ephemeral_containers_are_routed() -> None:
    doc = yaml.safe_load((REPO / "webhook/base/validatingwebhook.yaml").read_text())
    resources = {r for hook in doc["webhooks"] for rule in hook["rules"] for r in rule["resources"]}
    assert "pods/ephemeralcontainers" in resources
