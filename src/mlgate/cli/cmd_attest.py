"""``mlgate attest``: the promotion pipeline signs a governance attestation for a model."""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path
from typing import Any

from mlgate.cli.common import add_cert_chain_option, print_annotations
from mlgate.cli.main import EXIT_OK
from mlgate.errors import InputError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "attest",
        help="create a signed governance attestation for a model",
        description=(
            "Signs an in-toto statement (predicate https://mlgate.io/governance/v1) about the "
            "model with root digest --model-digest: its card, evaluation evidence, approvals "
            "and gate results. Deploy it as the mlgate.io/attestation annotation (base64) or "
            "put it in the signature store and name it with mlgate.io/attestation-ref."
        ),
    )
    p.add_argument("--model-digest", required=True, metavar="sha256:HEX")
    p.add_argument("--model-name", required=True, metavar="NAME")
    p.add_argument("--model-version", default="", metavar="VERSION")
    p.add_argument(
        "--model-uri",
        action="append",
        default=[],
        metavar="URI",
        help="a URI the model is approved to be served from (repeatable); admission denies "
        "any other URI (SC-URI-BOUND)",
    )
    p.add_argument(
        "--component",
        default="predictor",
        metavar="NAME",
        help="for the printed mlgate.io/models entry (default: predictor)",
    )
    p.add_argument(
        "--card", required=True, type=Path, metavar="FILE", help="model card (YAML/JSON)"
    )
    p.add_argument(
        "--evidence", required=True, type=Path, metavar="FILE", help="evaluation evidence (JSON)"
    )
    p.add_argument("--approvals", required=True, type=Path, metavar="FILE", help="YAML/JSON list")
    p.add_argument("--gates", type=Path, metavar="FILE", help="gate results (YAML/JSON mapping)")
    p.add_argument("--key", required=True, type=Path, metavar="PEM", help="EC private key")
    add_cert_chain_option(p, "signing certificate first, then intermediates")
    p.add_argument("--password-env", metavar="VAR", help="variable holding the key's password")
    p.add_argument("--created-at", metavar="RFC3339", help="default: now (UTC)")
    p.add_argument("--out", required=True, type=Path, metavar="FILE")
    p.set_defaults(handler=run)


def _load(path: Path, kind: type, what: str) -> Any:
    from mlgate.policyset.yamlfile import load_data_file

    data, _ = load_data_file(path)
    if what == "approvals" and isinstance(data, dict) and "approvals" in data:
        data = data["approvals"]
    if not isinstance(data, kind):
        expected = "a list" if kind is list else "a mapping"
        raise InputError(f"{what} must be {expected}", location=str(path))
    return data


def run(args: argparse.Namespace) -> int:
    from mlgate.supplychain.attestation import create_attestation
    from mlgate.supplychain.dsse import KeySigner

    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and password is None:
        raise InputError(f"environment variable {args.password_env} is not set")
    signer = KeySigner.from_files(args.key, args.cert_chain, password)
    approvals = _load(args.approvals, list, "approvals")
    try:
        bundle = create_attestation(
            signer,
            model_name=args.model_name,
            model_digest=args.model_digest,
            card=_load(args.card, dict, "card"),
            evaluation=_load(args.evidence, dict, "evidence"),
            approvals=approvals,
            gates=_load(args.gates, dict, "gates") if args.gates else {},
            model_version=args.model_version,
            model_uris=args.model_uri,
            created_at=args.created_at,
        )
    except InputError as err:
        if err.location and err.location.startswith("approvals"):
            raise InputError(
                err.message, location=f"{args.approvals}: {err.location}", code=err.code
            ) from None
        raise
    args.out.write_bytes(bundle)
    print(f"attested {args.model_name} {args.model_digest} -> {args.out}")
    if not args.model_uri:
        print("warning: no --model-uri: admission will deny every deployment of this model "
              "(SC-URI-BOUND)", file=sys.stderr)  # fmt: skip
    print_annotations(
        args.model_digest,
        {"attestation": base64.b64encode(bundle).decode()},
        args.component,
        args.model_uri[0] if args.model_uri else None,
    )
    return EXIT_OK
