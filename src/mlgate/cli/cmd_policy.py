"""``mlgate policy check [DIR]``: is this policy directory safe to deploy?

Loads everything the engine would load (catalogue, parameters, exemptions, Rego with the
builtin scan) and compiles the Rego on the embedded engine. Errors are one ``file:line``
line and exit 2. Then it cross-checks the catalogue against the Rego and reports, as
warnings:
- controls in controls.yaml that no Rego rule ever reports (they can never fire);
- control ids reported by Rego that the catalogue lacks (they deny as MLGATE-UNKNOWN-CONTROL);
- ``parameters`` of a control that params.yaml does not define;
Parameters the shipped Rego reads must have the right type (a threshold written as a string
is an error, exit 2: the Rego would silently fall back to its built-in default).
- exemptions that have expired (they no longer apply; renew or remove them).
``--strict`` turns warnings into errors (exit 2).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.cli.main import EXIT_ERROR, EXIT_OK
from mlgate.errors import PolicyError
from mlgate.policyset.builtins import _strip_comments as strip_comments

# A control id where a finding names it: lib.finding("ID", ...), finding("ID", ...) or an
# object literal {"control": "ID", ...}.
_FINDING_ID = re.compile(r'(?:\bfinding\(\s*|"control"\s*:\s*)"([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)"')


@dataclass(frozen=True)
class RegoReference:
    control: str
    file: str
    line: int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "policy",
        help="validate a policy directory (catalogue, parameters, exemptions, Rego)",
        description="Policy set maintenance commands.",
    )
    sub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    check = sub.add_parser(
        "check",
        help="load and compile a policy directory; report errors with file:line",
        description=(
            "Validates controls.yaml, params.yaml and exemptions.yaml against their schemas, "
            "rejects Rego that calls unsupported builtins, compiles the Rego on the embedded "
            "engine and cross-checks control ids between the catalogue and the Rego."
        ),
    )
    check.add_argument("directory", nargs="?", type=Path, metavar="DIR", help="default: policies/")
    check.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 2)")
    check.add_argument(
        "--now", metavar="TIME", help="evaluate exemption expiry at this RFC 3339 time"
    )
    check.set_defaults(handler=run_check)
    p.set_defaults(handler=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_ERROR


def rego_references(modules: dict[str, str], root: Path) -> list[RegoReference]:
    """Every control id a (non-test) Rego module reports, with where it does so."""
    refs = []
    for rel, source in sorted(modules.items()):
        code = strip_comments(source)
        for m in _FINDING_ID.finditer(code):
            line = code.count("\n", 0, m.start()) + 1
            refs.append(RegoReference(m.group(1), str(root / rel), line))
    return refs


def _param_defined(params: dict[str, Any], dotted: str) -> bool:
    if dotted == "freeze_windows":
        return True
    for tier in params["resolved"].values():
        for resolved in tier.values():
            cur: Any = resolved
            for part in dotted.split("."):
                if not isinstance(cur, dict) or part not in cur:
                    break
                cur = cur[part]
            else:
                return True
    return False


# The parameters the shipped Rego reads, and what they must be. A wrong type would make the
# Rego fall back to its built-in default, so it is an error here.
NUMBER, INTEGER, BOOLEAN, STRING, STRINGS, THRESHOLDS = (
    "a number",
    "a whole number",
    "true or false",
    "a string",
    "a list of strings",
    "a mapping of metric names to numbers (or null)",
)
PARAM_TYPES: dict[str, str] = {
    "drift.psi_warn": NUMBER,
    "drift.psi_deny": NUMBER,
    "drift.ks_pvalue": NUMBER,
    "drift.chi2_pvalue": NUMBER,
    "drift.dataset_drift_share": NUMBER,
    "drift.bins": INTEGER,
    "metrics.min": THRESHOLDS,
    "metrics.max": THRESHOLDS,
    "metrics.use_ci_lower_bound": BOOLEAN,
    "metrics.declared_tolerance": NUMBER,
    "fairness.min_parity_ratio": NUMBER,
    "fairness.max_equal_opportunity_difference": NUMBER,
    "stability.max_metric_drop": NUMBER,
    "approvals.required_roles": STRINGS,
    "approvals.min_distinct_approvers": INTEGER,
    "max_model_age_days": INTEGER,
    "review_interval_days": INTEGER,
    "canary.min_days": NUMBER,
    "canary.max_error_rate": NUMBER,
    "access.allowed_groups": STRINGS,
    "gdpr.allowed_regions": STRINGS,
    "gdpr.allowed_transfer_mechanisms": STRINGS,
    "gdpr.max_retention_days": INTEGER,
    "logging.min_retention_days": INTEGER,
    "fria.required_areas": STRINGS,
    "supply_chain.mutable_schemes": STRINGS,
    "supply_chain.governance_predicate_type": STRING,
}


_MISSING = object()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_ok(value: Any, expected: str) -> bool:
    if expected == NUMBER:
        return _is_number(value)
    if expected == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == BOOLEAN:
        return isinstance(value, bool)
    if expected == STRING:
        return isinstance(value, str) and bool(value)
    if expected == STRINGS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict) and all(v is None or _is_number(v) for v in value.values())


def param_type_errors(params_path: Path) -> list[str]:
    """``file:line: ...`` for every known parameter of a wrong type, in any layer."""
    from mlgate.policyset.yamlfile import load_yaml_file

    document, lines = load_yaml_file(params_path)
    layers: list[tuple[str, Any]] = [("/defaults", document.get("defaults"))]
    layers += [(f"/tiers/{k}", v) for k, v in (document.get("tiers") or {}).items()]
    layers += [(f"/environments/{k}", v) for k, v in (document.get("environments") or {}).items()]
    layers += [
        (f"/overrides/{i}/set", item.get("set"))
        for i, item in enumerate(document.get("overrides") or [])
        if isinstance(item, dict)
    ]
    errors = []
    for pointer, layer in layers:
        for dotted, expected in PARAM_TYPES.items():
            value: Any = layer
            for part in dotted.split("."):
                value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
            if value is _MISSING or _type_ok(value, expected):
                continue
            where = lines.where(pointer + "/" + dotted.replace(".", "/"))
            errors.append(f"{where}: {dotted} must be {expected}, got {value!r}")
    return errors


def cross_check(policy_set: Any, now_ns: int) -> list[str]:
    """Warnings about the loaded policy set (see the module docstring)."""
    catalogue = policy_set.catalogue
    warnings: list[str] = []
    refs = rego_references(policy_set.modules, Path(policy_set.root))
    reported = {r.control for r in refs}
    for control in catalogue.controls.values():
        if control.id not in reported:
            warnings.append(
                f"{catalogue.path}:{control.line}: control {control.id} is never reported by any "
                "Rego rule, so it can never fire"
            )
    seen: set[str] = set()
    for ref in refs:
        if catalogue.get(ref.control) is None and ref.control not in seen:
            seen.add(ref.control)
            warnings.append(
                f"{ref.file}:{ref.line}: control id {ref.control} is not in controls.yaml; a "
                "finding with it denies the request as MLGATE-UNKNOWN-CONTROL"
            )
    params = policy_set.data["mlgate"]["params"]
    for control in catalogue.controls.values():
        for name in control.parameters:
            if not _param_defined(params, name):
                warnings.append(
                    f"{catalogue.path}:{control.line}: control {control.id} lists parameter "
                    f"{name!r}, which params.yaml does not define"
                )
    for exemption in policy_set.exemptions:
        if exemption.expires_ns < now_ns:
            warnings.append(
                f"{Path(policy_set.root) / 'exemptions.yaml'}: exemption {exemption.id} for "
                f"{exemption.control} expired on {exemption.expires}; it no longer applies "
                "(renew it with a new approval or remove it)"
            )
    return warnings


def summary(policy_set: Any, now_ns: int) -> str:
    catalogue = policy_set.catalogue
    groups = len({c.group for c in catalogue.controls.values()})
    params = policy_set.data["mlgate"]["params"]
    active = sum(e.expires_ns >= now_ns for e in policy_set.exemptions)
    windows = len(params["freeze_windows"])
    return (
        f"OK {policy_set.root}: {len(catalogue)} controls in {groups} groups, "
        f"{len(policy_set.modules)} Rego modules (+{len(policy_set.test_modules)} test modules), "
        f"parameters for {len(params['resolved'])} tiers x {len(params['environments'])} "
        f"environments, {len(policy_set.exemptions)} exemptions ({active} active), "
        f"{windows} freeze window{'s' if windows != 1 else ''}; revision {policy_set.revision}"
    )


def compile_check(policy_set: Any) -> None:
    """Builds the policy set for the Wasm engine; OPA's compiler errors name file:line:col.

    The shipped policies load their shipped module; edited Rego is compiled with OPA.
    """
    from mlgate.rego.wasm import WasmBackend

    WasmBackend(policy_set, pool_size=1).close()


def run_check(args: argparse.Namespace) -> int:
    from mlgate.policyset import default_policy_dir, load_policy_set
    from mlgate.timeutil import now_ns, to_ns

    when = to_ns(args.now, where="--now") if args.now else now_ns()
    root = args.directory or default_policy_dir()
    policy_set = load_policy_set(root)
    type_errors = param_type_errors(Path(root) / "params.yaml")
    if type_errors:
        raise PolicyError("; ".join(type_errors[:10]))
    compile_check(policy_set)
    warnings = cross_check(policy_set, when)
    for warning in warnings:
        print(f"warning: {warning}")
    if warnings and args.strict:
        raise PolicyError(f"{len(warnings)} warning(s) with --strict")
    print(summary(policy_set, when))
    return EXIT_OK
