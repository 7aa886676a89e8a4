"""``mlgate impact``: which decisions would a proposed policy change flip?

Replays the audit log over a time window, the objects a cluster scan finds (``--cluster``,
through the Kubernetes API as `mlgate scan` reads it) and/or the objects in manifest folders
and exported object files under the current and the proposed policy set, and reports every flip grouped by
control, namespace and model. Exit 0 when nothing would flip to deny, 1 when something would,
2 on usage, input or policy errors.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mlgate.cli.common import add_decision_log_window
from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import InputError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_MAX_NS = 2**63 - 1  # the log stores times as signed 64-bit ns
_UNIT_NS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_time(value: str, flag: str) -> int:
    """A duration back from now (``7d``, ``12h``) or an RFC 3339 time / date, in ns."""
    from mlgate.timeutil import now_ns, to_ns

    match = _DURATION.match(value.strip())
    try:
        if match:
            ns = now_ns() - int(float(match.group(1)) * _UNIT_NS[match.group(2)] * 1_000_000_000)
        else:
            ns = to_ns(value)
    except (InputError, OverflowError):
        ns = None
    if ns is None or not 0 <= ns < _MAX_NS:
        raise InputError(
            f"{flag} expects a duration (30m, 12h, 7d, 2w) or an RFC 3339 time between 1970 "
            f"and 2262, got {value!r}",
            location=flag,
            code="impact.bad_time",
        )
    return ns


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mlgate.impact.render import FORMATS

    p = subparsers.add_parser(
        "impact",
        help="replay recorded decisions and objects under a proposed policy set",
        description=(
            "Compare the current policy set with a proposed one (a directory, a git revision "
            "or a bundle) by replaying the decisions in the audit log, the objects a cluster "
            "scan finds (--cluster) and the objects in manifest folders or exported object "
            "files. Reports every decision that would flip "
            "(allow->deny, deny->allow, new warnings) grouped by control, namespace and model, "
            "and every input that cannot be reproduced exactly. Exit 0 when nothing would flip "
            "to deny, 1 when something would, 2 on errors."
        ),
    )
    add_decision_log_window(p, "decision log to replay")
    p.add_argument(
        "--proposed",
        required=True,
        metavar="SPEC",
        help="proposed policy set: directory, bundle .tar.gz, or git revision (git:REV)",
    )
    p.add_argument(
        "--current",
        metavar="SPEC",
        help="current policy set (default: $MLGATE_POLICIES or the shipped policies/)",
    )
    p.add_argument("--bundle-key", type=Path, metavar="PEM", help="verification key for bundles")
    p.add_argument("--allow-unsigned", action="store_true", help="accept unsigned bundles")
    objects = p.add_argument_group("objects from files (as `mlgate check` reads them)")
    objects.add_argument("--environment", help="environment (default: namespace label)")
    objects.add_argument("--user", default="", help="deploying user")
    objects.add_argument("--group", action="append", default=[], help="deploying user's groups")
    objects.add_argument(
        "--namespace-label", action="append", metavar="KEY=VALUE", help="namespace labels"
    )
    cluster = p.add_argument_group(
        "objects in a cluster (as `mlgate scan` reads them; --user/--group judge access)"
    )
    cluster.add_argument(
        "--cluster", action="store_true", help="replay the objects a cluster scan finds"
    )
    cluster.add_argument("--kubeconfig", type=Path, help="default: $KUBECONFIG or ~/.kube/config")
    cluster.add_argument("--context", help="kubeconfig context (default: the current one)")
    cluster.add_argument("--namespace", "-n", help="only this namespace (default: all)")
    out = p.add_argument_group("output")
    out.add_argument("--output", "-o", choices=FORMATS, default="table")
    out.add_argument("--out", type=Path, metavar="FILE", help="write the output to FILE")
    out.add_argument(
        "--policy-file",
        default="policies/controls.yaml",
        help="file the GitHub/SARIF annotations point at (default policies/controls.yaml)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mlgate.cli.common import parse_labels
    from mlgate.engine import Engine
    from mlgate.impact import build_report
    from mlgate.impact.render import render, render_github, render_sarif
    from mlgate.impact.sources import load_source
    from mlgate.policyset import default_policy_dir
    from mlgate.subjects import RequestInfo
    from mlgate.timeutil import rfc3339

    if args.audit_db is None and not args.objects and not args.cluster:
        raise InputError(
            "nothing to replay: give --audit-db, --cluster and/or manifest paths",
            code="impact.nothing_to_replay",
        )
    if not args.cluster and (args.kubeconfig or args.context or args.namespace):
        raise InputError(
            "--kubeconfig, --context and --namespace need --cluster", code="impact.needs_cluster"
        )
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    info = RequestInfo(
        username=args.user,
        groups=tuple(args.group),
        namespace_labels=parse_labels(args.namespace_label, "--namespace-label"),
        source="manifest",
        environment=args.environment,
    )
    found = []
    if args.objects:
        from mlgate.impact.objects import find_objects

        found = find_objects(args.objects, info)  # input errors before the policy loads
    cluster = None
    if args.cluster:
        from mlgate.impact.cluster import cluster_objects
        from mlgate.scan import ClusterReader, Identity

        reader = ClusterReader.from_kubeconfig(
            str(args.kubeconfig) if args.kubeconfig else None, args.context
        )
        identity = Identity(args.user, tuple(args.group))
        cluster = cluster_objects(reader, namespace=args.namespace, identity=identity)
    # A git revision is read from the repository holding the other side's directory.
    default_dir = default_policy_dir()
    current_spec = args.current or str(default_dir)

    def reference_for(other: str) -> Path:
        path = Path(other)
        return path if not other.startswith("git:") and path.is_dir() else default_dir

    options = {"bundle_key": args.bundle_key, "allow_unsigned": args.allow_unsigned}
    current_src = load_source(current_spec, reference_dir=reference_for(args.proposed), **options)
    proposed_src = load_source(args.proposed, reference_dir=reference_for(current_spec), **options)
    trust_changed = current_src.trust_fingerprint != proposed_src.trust_fingerprint
    current, proposed = Engine(current_src.policy_set), Engine(proposed_src.policy_set)
    items, sources, notes = [], [], []
    try:
        if args.audit_db is not None:
            from mlgate.audit import AuditStore
            from mlgate.impact.audit_replay import AuditReplayer

            store = AuditStore(args.audit_db, create=False)
            try:
                replayer = AuditReplayer(current, proposed, trust_changed=trust_changed)
                items += list(replayer.replay(store, since_ns=since, until_ns=until))
            finally:
                store.close()
            sources.append(f"audit log {args.audit_db}")
        if found:
            from mlgate.impact.objects import replay_objects

            items += list(replay_objects(found, current, proposed, trust_changed=trust_changed))
            sources.append(f"{len(found)} object(s) from {', '.join(args.objects)}")
        if cluster is not None:
            from mlgate.impact.objects import replay_objects

            items += list(
                replay_objects(cluster.objects, current, proposed, trust_changed=trust_changed)
            )
            items += cluster.invalid
            sources.append(cluster.source(args.namespace))
            notes += cluster.notes()
    finally:
        current.close()
        proposed.close()
    if trust_changed:
        notes.append(
            "trust.yaml differs between the sets: logged signature evidence is not re-verified"
        )
    diff_hint = _policy_diff_hint(current_src.spec, proposed_src.spec)
    if diff_hint:
        notes.append(diff_hint)
    report = build_report(
        items,
        current=current_src.describe(),
        proposed=proposed_src.describe(),
        window={
            "since": rfc3339(since) if since is not None else None,
            "until": rfc3339(until) if until is not None else None,
        },
        sources=sources,
        notes=notes,
    )
    if args.output == "github":
        text = render_github(report, policy_file=args.policy_file)
    elif args.output == "sarif":
        text = render_sarif(report, policy_file=args.policy_file)
    else:
        text = render(report, args.output)
    if args.out:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n", encoding="utf-8")
        except OSError as err:
            raise InputError(f"cannot write the report: {err}", location=str(args.out)) from None
        print(f"impact report written to {args.out}", file=sys.stderr)
    else:
        print(text)
    return EXIT_DENIED if report.blocking else EXIT_OK


def _has_command(*path: str) -> bool:
    from mlgate.cli.main import build_parser

    parser: argparse.ArgumentParser = build_parser(path[0] if path else None)
    for name in path:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or name not in sub.choices:
            return False
        parser = sub.choices[name]
    return True


def _policy_diff_hint(current: str, proposed: str) -> str:
    """Points at `mlgate policy diff` (effective parameter changes) where this build has it."""
    if not _has_command("policy", "diff"):
        return ""
    return f"parameter changes and weakenings: mlgate policy diff {current} {proposed}"
