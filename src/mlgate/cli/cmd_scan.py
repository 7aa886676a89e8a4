"""``mlgate scan``: audit the model-deploying objects that already exist in a cluster."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlgate.cli.common import add_engine_options, make_engine
from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.cli.output.check import FORMATS, CheckResult, render
from mlgate.cli.skipped import Skipped


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "scan",
        help="audit the model deployments that already run in a cluster",
        description=(
            "Lists, through the Kubernetes API, every object of every kind mlgate's adapters "
            "read (InferenceService, Seldon Model, Deployment, Pod, ...), evaluates each with "
            "the same policies as the webhook (environment from namespace labels) and reports "
            "in the `mlgate check` formats, optionally also as wgpolicyk8s.io/v1alpha2 "
            "PolicyReports. Exit 0 if all are allowed, 1 if any is denied, 2 on errors."
        ),
    )
    p.add_argument("--kubeconfig", type=Path, help="default: $KUBECONFIG or ~/.kube/config")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--namespace", "-n", help="only this namespace (default: all namespaces)")
    p.add_argument("--output", "-o", choices=FORMATS, default="table")
    p.add_argument(
        "--policy-report",
        action="store_true",
        help="also write one PolicyReport per object (needs the wgpolicyk8s.io CRD and RBAC "
        "to create, update, list and delete policyreports)",
    )
    p.add_argument("--user", default="", help="judge access controls as if this user had deployed")
    p.add_argument("--group", action="append", default=[], help="... with these groups")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    add_engine_options(p)
    p.set_defaults(handler=run)


def _results(report) -> list[CheckResult]:  # type: ignore[no-untyped-def]
    return [
        CheckResult(file=o.path, document=0, line=1, kind=o.kind, name=o.name, decision=o.decision)
        for o in report.evaluated
    ]


def _skipped(report) -> list[Skipped]:  # type: ignore[no-untyped-def]
    """Objects listed but not evaluated, as `mlgate check` lists skipped documents."""
    return [Skipped(o.path, 0, 1, o.kind, o.name, o.skipped) for o in report.skipped]


def _render(report, fmt: str, color: bool) -> str:  # type: ignore[no-untyped-def]
    text = render(_results(report), fmt, color=color, skipped=_skipped(report))
    if fmt == "json":
        doc = json.loads(text)
        doc["server"] = report.server
        doc["kinds_not_served"] = [
            {"group": k.group, "kind": k.kind, "resource": k.resource, "reason": k.reason}
            for k in report.unserved
        ]
        return json.dumps(doc, indent=2)
    if fmt != "table":
        return text
    return "\n".join([text, *(f"not scanned  {k.name}: {k.reason}" for k in report.unserved)])


def run(args: argparse.Namespace) -> int:
    from mlgate.scan import ClusterReader, Identity, scan_cluster

    reader = ClusterReader.from_kubeconfig(
        str(args.kubeconfig) if args.kubeconfig else None, args.context
    )
    engine = make_engine(args)
    try:
        report = scan_cluster(
            reader,
            engine,
            namespace=args.namespace,
            identity=Identity(args.user, tuple(args.group)),
        )
    finally:
        engine.close()
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(_render(report, args.output, color))
    if args.policy_report:
        from mlgate.scan.policyreport import write_reports

        written, deleted = write_reports(reader.api, report)
        print(f"PolicyReports: {written} written, {deleted} stale deleted", file=sys.stderr)
    return (
        EXIT_DENIED
        if any(o.decision is not None and not o.decision.allowed for o in report.evaluated)
        else EXIT_OK
    )
