"""The effective change between two policy sets, per risk tier x environment, after layering.

``mlgate policy diff OLD NEW`` answers the reviewer's question "does this edit weaken any
control, and where?". It compares what a decision would actually use, not the text:
- parameters resolved per tier x environment (defaults -> tiers -> environments -> overrides),
  each move labelled weaker or stricter from the ``x-stricter`` annotation of
  schemas/params.schema.json;
- each control's effective enforcement (deny > warn > audit > not applied) per tier x
  environment and per namespace override;
- exemptions added, removed, extended, shortened, expired or re-scoped;
- freeze windows and trusted signers (trust.yaml authorities).
An environment one side does not define is evaluated as production on that side (as the
policies do), so adding an environment shows what it relaxes. Prohibited and unknown tiers use
the high parameters (lib.rego), so parameter cells are the high, limited and minimal tiers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.policyset.catalogue import TIERS, Catalogue
from mlgate.policyset.exemptions import Exemption
from mlgate.policyset.params import PARAMETER_TIERS, parameter_schemas
from mlgate.policyset.policyset import PolicyData

WEAKER, STRICTER, CHANGED = "weaker", "stricter", "changed"
ENFORCEMENT_RANK = {"deny": 3, "warn": 2, "audit": 1, "not applied": 0}
_UNSET = "unset"

Cell = tuple[str, str, str]  # tier, environment, namespace ("" = any namespace)


@dataclass(frozen=True)
class Change:
    kind: str  # parameter | enforcement | exemption | freeze-window | trust
    subject: str  # parameter name, control id, exemption id, window or authority name
    old: Any
    new: Any
    direction: str  # weaker | stricter | changed
    detail: str
    cells: tuple[Cell, ...] = field(default=())

    @property
    def tiers(self) -> tuple[str, ...]:
        return PARAMETER_TIERS if self.kind == "parameter" else TIERS

    def scope(self, envs: Iterable[str]) -> str:
        return scope_text(self.cells, self.tiers, envs) if self.cells else ""

    def to_dict(self, envs: Iterable[str]) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "old": self.old,
            "new": self.new,
            "direction": self.direction,
            "detail": self.detail,
            "scope": self.scope(envs),
            "cells": [
                {"tier": t, "environment": e, **({"namespace": n} if n else {})}
                for t, e, n in self.cells
            ],
        }


@dataclass(frozen=True)
class PolicyDiff:
    changes: tuple[Change, ...]
    tiers: tuple[str, ...]
    environments: tuple[str, ...]

    @property
    def weakening(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.direction == WEAKER)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.counts(),
            "environments": list(self.environments),
            "changes": [c.to_dict(self.environments) for c in self.changes],
        }

    def counts(self) -> dict[str, int]:
        out = {WEAKER: 0, STRICTER: 0, CHANGED: 0}
        for c in self.changes:
            out[c.direction] += 1
        return out


def diff_policies(
    old: PolicyData,
    new: PolicyData,
    *,
    now_ns: int,
    old_trust: Any = None,
    new_trust: Any = None,
) -> PolicyDiff:
    envs = tuple(dict.fromkeys([*old.params["environments"], *new.params["environments"]]))
    changes = [
        *_parameters(old.params, new.params, envs),
        *_enforcement(old.catalogue, new.catalogue, old.params, new.params, envs),
        *_exemptions(old.exemptions, new.exemptions, now_ns),
        *_freeze_windows(old.params["freeze_windows"], new.params["freeze_windows"]),
        *_recognition(old.params, new.params),
        *_trust(old_trust, new_trust),
    ]
    return PolicyDiff(changes=tuple(changes), tiers=TIERS, environments=envs)


# --------------------------------------------------------------------------------------------
# parameters


def _cell_params(params: dict[str, Any], tier: str, env: str) -> dict[str, Any]:
    env = env if env in params["environments"] else "production"
    cell: dict[str, Any] = params["resolved"][tier][env]
    return cell


def _get(params: dict[str, Any], dotted: str) -> Any:
    cur: Any = params
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def compare_values(old: Any, new: Any, stricter: str) -> list[tuple[str, Any, Any, str]]:
    """(suffix, old, new, direction) for each difference; suffix names a metric of a map."""
    if old == new:
        return []
    if stricter in ("higher", "lower") and (isinstance(old, dict) or isinstance(new, dict)):
        old, new = old or {}, new or {}
        out = []
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if a == b:
                continue
            if a is None or b is None:
                direction = STRICTER if a is None else WEAKER  # a bound added / dropped
            else:
                direction = _ordered(a, b, stricter)
            out.append(
                (f".{key}", _UNSET if a is None else a, _UNSET if b is None else b, direction)
            )
        return out
    if stricter in ("higher", "lower") and _number(old) and _number(new):
        return [("", old, new, _ordered(old, new, stricter))]
    if stricter in ("more", "fewer") and isinstance(old, list) and isinstance(new, list):
        added, removed = set(new) - set(old), set(old) - set(new)
        if not added and not removed:
            return [("", old, new, CHANGED)]  # order only
        loosening = removed if stricter == "more" else added
        direction = WEAKER if loosening else STRICTER
        return [("", sorted(removed), sorted(added), direction)]
    if stricter == "true" and isinstance(old, bool) and isinstance(new, bool):
        return [("", old, new, STRICTER if new else WEAKER)]
    return [("", old, new, CHANGED)]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _ordered(old: Any, new: Any, stricter: str) -> str:
    if old == new:
        return CHANGED
    higher = new > old
    return STRICTER if higher == (stricter == "higher") else WEAKER


def _parameters(old: dict[str, Any], new: dict[str, Any], envs: tuple[str, ...]) -> list[Change]:
    grouped: dict[tuple[str, str, str, str], list[Cell]] = {}
    for dotted, schema in parameter_schemas().items():
        stricter = schema.get("x-stricter", "changed")
        for tier in PARAMETER_TIERS:
            for env in envs:
                a = _get(_cell_params(old, tier, env), dotted)
                b = _get(_cell_params(new, tier, env), dotted)
                for suffix, va, vb, direction in compare_values(a, b, stricter):
                    key = (dotted + suffix, _key(va), _key(vb), direction)
                    grouped.setdefault(key, []).append((tier, env, ""))
    out = []
    for (name, va, vb, direction), cells in grouped.items():
        a, b = json.loads(va), json.loads(vb)
        if isinstance(a, list) and isinstance(b, list) and direction != CHANGED:
            detail = ", ".join(
                [*(f"-{x}" for x in a), *(f"+{x}" for x in b)]
            )  # list: removed / added entries
            out.append(Change("parameter", name, a, b, direction, detail, tuple(cells)))
        else:
            detail = f"{_show(a)} -> {_show(b)}"
            out.append(Change("parameter", name, a, b, direction, detail, tuple(cells)))
    return out


def _recognised(params: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    """What the top-level recognition lists make mlgate see: model-server images (and which
    serve LLMs) and Annex III purpose terms. Each entry is a fact a decision may rest on."""
    servers: set[tuple[str, ...]] = {
        (str(s.get("runtime")), str(image), str(bool(s.get("llm"))))
        for s in params.get("model_servers") or []
        if isinstance(s, dict)
        for image in s.get("images") or []
    }
    terms_by_area = (params.get("classification") or {}).get("annex_iii_terms") or {}
    terms: set[tuple[str, ...]] = {
        (str(a), str(t)) for a, listed in terms_by_area.items() for t in listed or []
    }
    return {"model_servers": servers, "classification.annex_iii_terms": terms}


def _recognition(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Fewer recognised servers or purpose terms see fewer models or misclassifications."""
    out = []
    before, after = _recognised(old), _recognised(new)
    for name in before:
        removed, added = sorted(before[name] - after[name]), sorted(after[name] - before[name])
        if removed or added:
            direction = WEAKER if removed else STRICTER
            detail = ", ".join(
                [*(f"-{'/'.join(x)}" for x in removed), *(f"+{'/'.join(x)}" for x in added)]
            )
            out.append(Change("parameter", name, removed, added, direction, detail))
    return out


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


# --------------------------------------------------------------------------------------------
# enforcement


def _effective(catalogue: Catalogue, control_id: str, tier: str, env: str, ns: str) -> str:
    control = catalogue.get(control_id)
    if control is None:
        return "not applied"
    if not control.applies(tier, env):
        return "not applied"
    return control.enforcement_for(env, ns)


def _enforcement(
    old: Catalogue,
    new: Catalogue,
    old_params: dict[str, Any],
    new_params: dict[str, Any],
    envs: tuple[str, ...],
) -> list[Change]:
    out = []
    for cid in sorted(set(old.controls) | set(new.controls)):
        namespaces = [""]
        for cat in (old, new):
            control = cat.get(cid)
            if control is not None:
                namespaces += [n for n in control.namespace_overrides if n not in namespaces]
        grouped: dict[tuple[str, str], list[Cell]] = {}
        for tier in TIERS:
            for env in envs:
                # An environment a side does not define is production there.
                env_old = env if env in old_params["environments"] else "production"
                env_new = env if env in new_params["environments"] else "production"
                for ns in namespaces:
                    a = _effective(old, cid, tier, env_old, ns)
                    b = _effective(new, cid, tier, env_new, ns)
                    if a != b:
                        grouped.setdefault((a, b), []).append((tier, env, ns))
        for (a, b), cells in grouped.items():
            direction = WEAKER if ENFORCEMENT_RANK[b] < ENFORCEMENT_RANK[a] else STRICTER
            note = ""
            if old.get(cid) is None:
                note = " (control added)"
            elif new.get(cid) is None:
                note = " (control removed)"
            out.append(
                Change("enforcement", cid, a, b, direction, f"{a} -> {b}{note}", tuple(cells))
            )
    return out


# --------------------------------------------------------------------------------------------
# exemptions, freeze windows, trust


def _scope(e: Exemption) -> dict[str, str]:
    return {
        k: v
        for k, v in (("namespace", e.namespace), ("model", e.model), ("environment", e.environment))
        if v is not None
    }


def _exemptions(old: Iterable[Exemption], new: Iterable[Exemption], now_ns: int) -> list[Change]:
    before = {e.id: e for e in old}
    after = {e.id: e for e in new}
    out = []
    for eid in sorted(set(before) | set(after)):
        a, b = before.get(eid), after.get(eid)
        if a is None and b is not None:
            active = b.expires_ns >= now_ns
            out.append(
                Change(
                    "exemption",
                    eid,
                    None,
                    {"control": b.control, "scope": _scope(b), "expires": b.expires},
                    WEAKER if active else CHANGED,
                    f"added: waives {b.control} for {_scope(b)} until {b.expires}"
                    + ("" if active else " (already expired)"),
                )
            )
            continue
        if b is None and a is not None:
            active = a.expires_ns >= now_ns
            out.append(
                Change(
                    "exemption",
                    eid,
                    {"control": a.control, "scope": _scope(a), "expires": a.expires},
                    None,
                    STRICTER if active else CHANGED,
                    f"removed: {a.control} for {_scope(a)} is no longer waived",
                )
            )
            continue
        assert a is not None and b is not None
        if a.control != b.control:
            out.append(
                Change("exemption", eid, a.control, b.control, WEAKER,
                       f"now waives {b.control} instead of {a.control}")
            )  # fmt: skip
        sa, sb = _scope(a), _scope(b)
        if sa != sb:
            narrowed = set(sa.items()) < set(sb.items())
            out.append(
                Change("exemption", eid, sa, sb, STRICTER if narrowed else WEAKER,
                       f"scope {sa} -> {sb}")
            )  # fmt: skip
        if a.expires_ns != b.expires_ns:
            if b.expires_ns < now_ns <= a.expires_ns:
                verb, direction = "expired", STRICTER
            elif b.expires_ns > a.expires_ns:
                verb, direction = "extended", WEAKER
            else:
                verb, direction = "shortened", STRICTER
            out.append(
                Change("exemption", eid, a.expires, b.expires, direction,
                       f"{verb}: expires {a.expires} -> {b.expires}")
            )  # fmt: skip
    return out


def _freeze_windows(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    before = {w["name"]: w for w in old}
    after = {w["name"]: w for w in new}
    out = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        if a is None or b is None:
            direction = STRICTER if a is None else WEAKER
            verb = "added" if a is None else "removed"
            out.append(Change("freeze-window", name, a, b, direction, f"{verb}"))
            continue
        covers_less = (
            b["start_ns"] > a["start_ns"]
            or b["end_ns"] < a["end_ns"]
            or bool(set(a["environments"]) - set(b["environments"]))
        )
        covers_more = (
            b["start_ns"] < a["start_ns"]
            or b["end_ns"] > a["end_ns"]
            or bool(set(b["environments"]) - set(a["environments"]))
        )
        direction = WEAKER if covers_less else STRICTER if covers_more else CHANGED
        out.append(Change("freeze-window", name, a, b, direction, "dates or environments changed"))
    return out


def _trust(old: Any, new: Any) -> list[Change]:
    """Authorities by name: a new or modified signer widens trust (weaker)."""
    if old is None or new is None:
        return []
    before = {a.get("name"): a for a in old.get("authorities", []) if isinstance(a, dict)}
    after = {a.get("name"): a for a in new.get("authorities", []) if isinstance(a, dict)}
    out = []
    for name in sorted(set(before) | set(after), key=str):
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        if a is None:
            out.append(Change("trust", str(name), None, b, WEAKER, "authority added"))
        elif b is None:
            out.append(Change("trust", str(name), a, None, STRICTER, "authority removed"))
        else:
            meaningful = {k: v for k, v in a.items() if k != "description"} != {
                k: v for k, v in b.items() if k != "description"
            }
            direction = WEAKER if meaningful else CHANGED
            out.append(Change("trust", str(name), a, b, direction, "authority changed"))
    if old.get("sources") != new.get("sources"):
        out.append(
            Change("trust", "sources", old.get("sources"), new.get("sources"), WEAKER,
                   "signature sources changed")
        )  # fmt: skip
    return out


def read_trust_document(root: Path) -> Any:
    """trust.yaml as data, or None; its own loader validates it (supplychain/trust.py)."""
    from mlgate.policyset.yamlfile import load_yaml_file

    path = root / "trust.yaml"
    if not path.exists():
        return None
    document, _ = load_yaml_file(path)
    return document if isinstance(document, dict) else None


# --------------------------------------------------------------------------------------------
# scope text


def scope_text(cells: tuple[Cell, ...], tiers: Iterable[str], envs: Iterable[str]) -> str:
    """Where a change applies: ``every tier x environment``, ``tiers high, limited x
    environments production`` or a list of ``tier/environment``; per namespace override."""
    tiers, envs = list(tiers), list(envs)
    full = {(t, e) for t in tiers for e in envs}
    groups: dict[str, list[tuple[str, str]]] = {}
    for t, e, n in cells:
        groups.setdefault(n, []).append((t, e))
    parts = []
    for ns, pairs in groups.items():
        unique = set(pairs)
        ts = list(dict.fromkeys(t for t, _ in pairs))
        es = list(dict.fromkeys(e for _, e in pairs))
        if unique == full:
            text = "every tier x environment"
        elif len(unique) == len(ts) * len(es):
            text = (
                "every tier"
                if set(ts) == set(tiers)
                else f"tier{'s' if len(ts) > 1 else ''} {', '.join(ts)}"
            )
            text += (
                " x every environment"
                if set(es) == set(envs)
                else f" x environment{'s' if len(es) > 1 else ''} {', '.join(es)}"
            )
        else:
            text = ", ".join(f"{t}/{e}" for t, e in pairs)
        parts.append(text + (f" (namespace {ns})" if ns else ""))
    return "; ".join(parts)
