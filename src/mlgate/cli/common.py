"""Options and loading shared by the commands that evaluate policies."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from mlgate.errors import InputError


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        type=Path,
        default=None,
        help="policy directory (default: $MLGATE_POLICIES or the shipped policies/)",
    )
    parser.add_argument(
        "--backend",
        choices=("wasm", "opa", "embedded"),
        default="wasm",
        help="Rego engine: wasm, the embedded OPA-compiled WebAssembly engine (default; "
        "'embedded' is an alias), or opa, an OPA server",
    )
    parser.add_argument(
        "--opa-url", default=None, help="with --backend opa: an existing OPA server to use"
    )


def make_engine(args: argparse.Namespace) -> Any:
    from mlgate.engine import Engine
    from mlgate.policyset import default_policy_dir
    from mlgate.policyset.cache import load_policy_set_cached

    options: dict[str, Any] = {}
    if args.backend == "opa" and getattr(args, "opa_url", None):
        options["url"] = args.opa_url
    # The checked policy set is cached by content: most of a CI check's start-up otherwise.
    policy_set = load_policy_set_cached(args.policies or default_policy_dir())
    return Engine(policy_set, args.backend, **options)


def add_decision_log_window(parser: argparse.ArgumentParser, audit_help: str) -> None:
    """``PATH...``, ``--audit-db`` (default $MLGATE_AUDIT_DB), ``--since`` and ``--until``: the
    objects and the window of the decision log that impact and report read."""
    parser.add_argument(
        "objects", nargs="*", metavar="PATH", help="manifest folders or object files"
    )
    parser.add_argument(
        "--audit-db",
        type=Path,
        default=Path(os.environ["MLGATE_AUDIT_DB"]) if os.environ.get("MLGATE_AUDIT_DB") else None,
        help=f"{audit_help} (default $MLGATE_AUDIT_DB)",
    )
    parser.add_argument("--since", metavar="WHEN", help="window start: 7d, 12h or an RFC 3339 time")
    parser.add_argument("--until", metavar="WHEN", help="window end (default: now)")


def parse_labels(values: list[str] | None, flag: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{flag} expects KEY=VALUE, got {item!r}")
        labels[key] = value
    return labels


def add_cert_chain_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, help: str
) -> None:
    """``--cert-chain PEM...`` as sign, attest and verify take it (it takes every following
    word, so the positional DIR must come first)."""
    parser.add_argument(
        "--cert-chain", type=Path, nargs="+", action="extend", default=[], metavar="PEM", help=help
    )


def print_annotations(
    digest: str | None, evidence: dict[str, str], component: str, uri: str | None
) -> None:
    """The annotations to paste on the deployed object, in both forms (DESIGN.md 3.4)."""
    import json

    from mlgate.subjects.binding import ENTRY_FIELDS, describe_entry

    fields = {"digest": digest or "", **evidence}
    print("\n# Annotations for an object that serves this one model:")
    for field, value in fields.items():
        if value:
            print(
                f"mlgate.io/{'model-digest' if field == 'digest' else field}: {json.dumps(value)}"
            )
    key = uri or component
    print(f"\n# For an object with several models, its entry ({key}) in mlgate.io/models:")
    entry = describe_entry(key, {f: v for f, v in fields.items() if f in ENTRY_FIELDS})
    print(f"mlgate.io/models: {json.dumps(entry)}")
