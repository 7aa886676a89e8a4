"""``mlgate report``: the compliance report, one self-contained HTML file for an auditor."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.cli.common import add_decision_log_window
from mlgate.cli.main import EXIT_OK
from mlgate.errors import InputError

if TYPE_CHECKING:
    from mlgate.policyset import PolicySet


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the compliance report (self-contained HTML, printable)",
        description=(
            "Write one self-contained HTML file (no external assets, printable to PDF): every "
            "regulation article the catalogue cites mapped to its controls, policy tests and "
            "denial/warning counts, with gaps; the model inventory; promotion-evidence charts; "
            "the policy revision and the time of generation."
        ),
    )
    add_decision_log_window(p, "decision log")
    p.add_argument(
        "--policies",
        type=Path,
        help="policy directory (default: $MLGATE_POLICIES or the shipped policies/)",
    )
    p.add_argument(
        "--policy-tests",
        type=Path,
        help="policy-test directory (default: policy-tests/ beside the policy directory)",
    )
    p.add_argument(
        "--gate",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="a `mlgate gate --out` evidence file to chart (repeatable)",
    )
    p.add_argument("--environment", help="environment for object files (default: namespace label)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("mlgate-compliance-report.html"),
        help="output file (default mlgate-compliance-report.html)",
    )
    p.set_defaults(handler=run)


def _gate_file(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(
            f"cannot read gate evidence: {err}", location=str(path), code="report.unreadable_gate"
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            "gate evidence must be a JSON object", location=str(path), code="report.not_an_object"
        )
    return data.get("evidence", data) if isinstance(data.get("evidence"), dict) else data


def run(args: argparse.Namespace) -> int:
    from mlgate.cli.cmd_impact import parse_time
    from mlgate.policyset import default_policy_dir, load_policy_set
    from mlgate.report.compliance import ReportInput, render_report

    if args.audit_db is None and not args.objects and not args.gate:
        raise InputError(
            "nothing to report on: give --audit-db, manifest paths or --gate files",
            code="report.nothing_to_report",
        )
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    gates = [(str(p), _gate_file(p)) for p in args.gate]
    policy_dir = args.policies or default_policy_dir()
    policy_set = load_policy_set(policy_dir)
    tests = args.policy_tests or (Path(policy_dir).resolve().parent / "policy-tests")
    models: list[Any] = []
    records: list[Any] = []
    sources: list[str] = []
    if args.audit_db is not None:
        from mlgate.audit import AuditStore
        from mlgate.report.inventory import from_audit

        store = AuditStore(args.audit_db, create=False)
        try:
            models, records = from_audit(store, since_ns=since, until_ns=until)
        finally:
            store.close()
        sources.append(f"audit log {args.audit_db}")
    if args.objects:
        models += _objects(args, policy_set)
        sources.append(f"objects in {', '.join(args.objects)} (evaluated now)")
    if gates:
        sources.append(f"{len(gates)} gate result file(s)")
    from mlgate.timeutil import rfc3339

    html = render_report(
        ReportInput(
            policy_set=policy_set,
            records=records,
            models=models,
            sources=sources,
            window=(
                rfc3339(since) if since is not None else None,
                rfc3339(until) if until is not None else None,
            ),
            gate_results=gates,
            policy_tests=tests if tests.is_dir() else None,
        )
    )
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(html, encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot write the report: {err}", location=str(args.out)) from None
    print(args.out.resolve())
    print(
        f"{len(records)} decision(s), {len(models)} model(s), revision {policy_set.revision}",
        file=sys.stderr,
    )
    return EXIT_OK


def _objects(args: argparse.Namespace, policy_set: PolicySet) -> list[Any]:
    from mlgate.engine import Engine
    from mlgate.impact.objects import find_objects
    from mlgate.report.inventory import entries_from
    from mlgate.subjects import RequestInfo
    from mlgate.timeutil import now_ns

    found = find_objects(args.objects, RequestInfo(source="manifest", environment=args.environment))
    engine = Engine(policy_set)
    out = []
    try:
        at = now_ns()
        for obj in found:
            inputs = engine.build_inputs(obj.subject, now_ns=at)
            decision = engine.evaluate_all(inputs, obj.subject.describe())
            out += entries_from(decision.to_dict(), inputs, at, obj.ref)
    finally:
        engine.close()
    return out
