"""``mlgate policy check [DIR]``: is this policy directory safe to deploy?

Loads everything the engine would load (catalogue, parameters, exemptions, Rego with the
builtin scan) and compiles the Rego on the embedded engine. Errors are one ``file:line``
line each and exit 2: an unknown or misspelt key anywhere (with the closest known spelling),
a metric or environment name nothing defines, a parameter of the wrong type or one that does
not resolve for some risk tier x environment, a control id the Rego reports that the
catalogue lacks (issue 16: a typo never passes as "not set"). Then it reports, as warnings:
- controls in controls.yaml that no Rego rule ever reports (they can never fire);
- exemptions that have expired (they no longer apply; renew or remove them).
``--strict`` turns warnings into errors (exit 2).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.cli.main import EXIT_DENIED, EXIT_ERROR, EXIT_OK
from mlgate.errors import InputError, PolicyError
from mlgate.policyset.builtins import _strip_comments as strip_comments
from mlgate.policyset.validation import UNKNOWN_REFERENCE, Problem, raise_if, suggest

# A control id where a finding names it: lib.finding("ID", ...), finding("ID", ...) or an
# object literal {"control": "ID", ...}.
_FINDING_ID = re.compile(r'(?:\bfinding\(\s*|"control"\s*:\s*)"([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)"')


@dataclass(frozen=True)
class RegoReference:
    control: str
    file: str
    line: int


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    diff = sub.add_parser(
        "diff",
        help="effective change between two policy sets per risk tier x environment",
        description=(
            "Compares two policy directories after layering: thresholds moved (weaker or "
            "stricter), enforcement changes per tier x environment and namespace, exemptions "
            "added, extended or expired, freeze windows and trusted signers. OLD may be a git "
            "revision and path, e.g. origin/main:policies."
        ),
    )
    diff.add_argument("old", metavar="OLD", help="policy directory, or REV:PATH in git")
    diff.add_argument("new", metavar="NEW", help="policy directory, or REV:PATH in git")
    diff.add_argument("--output", "-o", choices=("table", "json"), default="table")
    diff.add_argument(
        "--fail-on-weaken", action="store_true", help="exit 1 if any change weakens a control"
    )
    diff.add_argument("--now", metavar="TIME", help="judge exemption expiry at this RFC 3339 time")
    diff.set_defaults(handler=run_diff)
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


def unknown_control_references(policy_set: Any) -> list[Problem]:
    """Control ids the Rego reports that controls.yaml lacks: a renamed or deleted control
    (its findings would deny as MLGATE-UNKNOWN-CONTROL, with no remediation)."""
    catalogue = policy_set.catalogue
    problems: list[Problem] = []
    seen: set[str] = set()
    for ref in rego_references(policy_set.modules, Path(policy_set.root)):
        if catalogue.get(ref.control) is None and ref.control not in seen:
            seen.add(ref.control)
            problems.append(
                Problem(
                    UNKNOWN_REFERENCE,
                    f"{ref.file}:{ref.line}",
                    f"control id {ref.control} is reported by the Rego but is not in controls.yaml",
                    suggest(ref.control, catalogue.controls),
                )
            )
    return problems


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
    raise_if(unknown_control_references(policy_set))
    from mlgate.supplychain.trust import TrustPolicy

    TrustPolicy.from_policy_dir(root)  # keys, certificates and regexes, with file:line
    compile_check(policy_set)
    warnings = cross_check(policy_set, when)
    for warning in warnings:
        print(f"warning: {warning}")
    if warnings and args.strict:
        raise PolicyError(f"{len(warnings)} warning(s) with --strict")
    print(summary(policy_set, when))
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# policy diff


def run_diff(args: argparse.Namespace) -> int:
    from mlgate.policyset.diff import diff_policies, read_trust_document
    from mlgate.policyset.policyset import load_policy_data
    from mlgate.timeutil import now_ns, to_ns

    when = to_ns(args.now, where="--now") if args.now else now_ns()
    with tempfile.TemporaryDirectory(prefix="mlgate-diff-") as scratch:
        old_dir = _materialize(args.old, Path(scratch) / "old")
        new_dir = _materialize(args.new, Path(scratch) / "new")
        result = diff_policies(
            load_policy_data(old_dir),
            load_policy_data(new_dir),
            now_ns=when,
            old_trust=read_trust_document(old_dir),
            new_trust=read_trust_document(new_dir),
        )
    if args.output == "json":
        print(json.dumps({"old": args.old, "new": args.new, **result.to_dict()}, indent=2))
    else:
        sys.stdout.write(render_diff(result, args.old, args.new))
    return EXIT_DENIED if args.fail_on_weaken and result.weakening else EXIT_OK


def render_diff(result: Any, old: str, new: str) -> str:
    counts = result.counts()
    lines = [
        f"policy diff {old} -> {new}: {counts['weaker']} weaker, {counts['stricter']} stricter, "
        f"{counts['changed']} other"
    ]
    order = {"weaker": 0, "stricter": 1, "changed": 2}
    for change in sorted(result.changes, key=lambda c: order[c.direction]):
        flag = "WEAKER" if change.direction == "weaker" else change.direction
        lines.append(f"  {flag:<9} {change.kind:<13} {change.subject}: {change.detail}")
        scope = change.scope(result.environments)
        if scope:
            lines.append(f"  {'':<9} {'':<13} in {scope}")
    if not result.changes:
        lines.append("  no effective change")
    elif result.weakening:
        lines.append(
            f"{len(result.weakening)} weakening change(s): each needs the approval that "
            "relaxing a control requires"
        )
    return "\n".join(lines) + "\n"


def _materialize(spec: str, scratch: Path) -> Path:
    """A policy directory: ``spec`` itself, or ``REV:PATH`` exported from git."""
    if Path(spec).is_dir() or ":" not in spec:
        return Path(spec)
    import io
    import subprocess
    import tarfile

    rev, path = spec.split(":", 1)
    try:
        tar = subprocess.run(
            ["git", "archive", "--format=tar", rev, "--", path or "."],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        message = detail.decode(errors="replace").strip() or str(err)
        raise InputError(
            f"cannot read {spec} from git: {message}", location=spec, code="git.unreadable"
        ) from None
    scratch.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(scratch, filter="data")
    return scratch / path
