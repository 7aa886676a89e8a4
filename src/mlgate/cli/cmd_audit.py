"""``mlgate audit list|export|verify|prune``: read and check the decision log."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import MlgateError

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "audit",
        help="list, export and verify the decision log",
        description="Read the webhook's hash-chained decision log (SQLite).",
    )
    sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--db",
            type=Path,
            default=Path(os.environ.get("MLGATE_AUDIT_DB", "mlgate-audit.db")),
            help="decision log (default $MLGATE_AUDIT_DB or ./mlgate-audit.db)",
        )

    for name, help_text, default_output in (
        ("list", "show decisions (newest last)", "table"),
        ("export", "write full records (with hashes) for archiving or a SIEM", "jsonl"),
    ):
        sp = sub.add_parser(name, help=help_text)
        common(sp)
        sp.add_argument(
            "--since", help="RFC 3339 time, YYYY-MM-DD, or a duration like 30m, 24h, 7d"
        )
        sp.add_argument("--limit", type=int, help="only the newest N records")
        sp.add_argument(
            "--output", "-o", choices=("table", "json", "jsonl"), default=default_output
        )
        sp.add_argument("--denied", action="store_true", help="only denials")
        sp.set_defaults(handler=run_list if name == "list" else run_export)

    sp = sub.add_parser("verify", help="check the hash chain (exit 0 intact, 1 tampered)")
    common(sp)
    sp.add_argument("--output", "-o", choices=("text", "json"), default="text")
    sp.set_defaults(handler=run_verify)

    sp = sub.add_parser("prune", help="apply retention now (the chain stays verifiable)")
    common(sp)
    sp.add_argument("--retention-days", type=float)
    sp.add_argument("--max-rows", type=int)
    sp.set_defaults(handler=run_prune)


def parse_since(value: str | None) -> int | None:
    if not value:
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        return time.time_ns() - int(match.group(1)) * _UNIT_S[match.group(2)] * 1_000_000_000
    from mlgate.errors import InputError
    from mlgate.timeutil import to_ns

    try:
        return to_ns(value, where="--since")
    except InputError:
        raise MlgateError(
            f"--since: expected RFC 3339, YYYY-MM-DD or 30m/24h/7d, got {value!r}"
        ) from None


def _open(db: Path) -> Any:
    from mlgate.audit import AuditStore

    return AuditStore(db, create=False)


def _records(args: argparse.Namespace, types: tuple[str, ...] = ()) -> list[Any]:
    store = _open(args.db)
    try:
        since = parse_since(args.since)
        records = list(store.records(since_ns=since, limit=args.limit, types=types))
    finally:
        store.close()
    if args.denied:
        records = [r for r in records if r.type == "decision" and not r.body.get("allowed", True)]
    return records


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "seq", "ts", "type", "decision_id", "uid", "operation", "kind", "namespace", "name",
        "user", "allowed", "dry_run", "fail_open", "controls", "warned", "exemptions",
        "risk_tier", "policy_revision", "duration_ms", "error", "anchor_seq", "deleted", "reason",
    )  # fmt: skip
    return {k: body[k] for k in keys if k in body}


def _table(records: list[Any]) -> str:
    rows = [("SEQ", "TIME", "RESULT", "KIND", "NAMESPACE/NAME", "USER", "CONTROLS")]
    for r in records:
        b = r.body
        if r.type == "checkpoint":
            rows.append(
                (str(r.seq), b.get("ts", ""), "checkpoint", "", "", "", b.get("reason", ""))
            )
            continue
        result = "allowed" if b.get("allowed") else "denied"
        if b.get("dry_run"):
            result += " (dry-run)"
        if b.get("fail_open"):
            result += " (fail-open)"
        target = f"{b.get('namespace', '')}/{b.get('name', '')}".strip("/")
        ts = str(b.get("ts", ""))[:19] if b.get("ts") else ""
        rows.append(
            (
                str(r.seq),
                ts,
                result,
                b.get("kind", ""),
                target,
                b.get("user", ""),
                ",".join(b.get("controls", [])),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _print(records: list[Any], output: str, full: bool) -> None:
    def item(r: Any) -> dict[str, Any]:
        if full:
            return {**r.body, "prev_hash": r.prev_hash, "hash": r.hash}
        return _summary(r.body)

    if output == "table":
        print(_table(records))
    elif output == "json":
        print(json.dumps([item(r) for r in records], indent=2, sort_keys=True))
    else:
        out = sys.stdout
        for r in records:
            out.write(json.dumps(item(r), sort_keys=True, separators=(",", ":")) + "\n")


def run_list(args: argparse.Namespace) -> int:
    # Decisions and retention checkpoints; `export` also writes the replay-inputs records
    # (digests of the inputs kept for `mlgate impact`) that the chain holds.
    _print(_records(args, ("decision", "checkpoint")), args.output, full=False)
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    _print(_records(args), args.output, full=True)
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    store = _open(args.db)
    try:
        result = store.verify()
    finally:
        store.close()
    if args.output == "json":
        print(json.dumps({
            "ok": result.ok, "checked": result.checked, "message": result.message,
            "first_bad_seq": result.first_bad_seq, "anchor_seq": result.anchor_seq,
            "head_seq": result.head_seq,
        }, indent=2))  # fmt: skip
    elif result.ok:
        print(f"OK: {result.message} ({result.checked} records checked)")
    else:
        print(f"TAMPERED: {result.message}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_DENIED


def run_prune(args: argparse.Namespace) -> int:
    if args.retention_days is None and args.max_rows is None:
        raise MlgateError("prune needs --retention-days and/or --max-rows")
    store = _open(args.db)
    try:
        deleted = store.prune(retention_days=args.retention_days, max_rows=args.max_rows)
    finally:
        store.close()
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(f"{stamp}: deleted {deleted} record(s); the chain is anchored at the cut")
    return EXIT_OK
