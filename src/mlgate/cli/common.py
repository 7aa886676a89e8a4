"""Options and loading shared by the commands that evaluate policies."""

from __future__ import annotations

import argparse
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

    options: dict[str, Any] = {}
    if args.backend == "opa" and getattr(args, "opa_url", None):
        options["url"] = args.opa_url
    return Engine.from_path(args.policies or default_policy_dir(), args.backend, **options)


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
