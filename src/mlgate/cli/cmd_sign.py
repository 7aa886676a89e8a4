"""``mlgate sign DIR``: sign a model directory (OpenSSF model signing)."""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path

from mlgate.cli.common import add_cert_chain_option, print_annotations
from mlgate.cli.main import EXIT_OK
from mlgate.errors import InputError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "sign",
        help="sign a model directory (OpenSSF model signing)",
        description=(
            "Writes a model-signing bundle (default DIR/model.sig) with an EC private key, a "
            "key plus certificate chain, or Sigstore keyless signing (needs network and an "
            "OIDC identity). Prints the model's root digest."
        ),
    )
    p.add_argument("model_dir", type=Path, metavar="PATH", help="model directory or single file")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--key", type=Path, metavar="PEM", help="EC private key (P-256/384/521)")
    how.add_argument("--keyless", action="store_true", help="Sigstore keyless signing")
    add_cert_chain_option(
        p, "with --key: signing certificate first, then intermediates (give DIR first)"
    )
    p.add_argument(
        "--signature", type=Path, metavar="OUT", help="default: DIR/model.sig or FILE.sig"
    )
    p.add_argument(
        "--component",
        default="predictor",
        metavar="NAME",
        help="for the printed mlgate.io/models entry (default: predictor)",
    )
    p.add_argument("--model-uri", metavar="URI",
                   help="key the printed mlgate.io/models entry by this URI")  # fmt: skip
    p.add_argument(
        "--ignore", action="append", default=[], metavar="PATH", help="path to leave out"
    )
    p.add_argument(
        "--password-env",
        metavar="VAR",
        help="environment variable holding the private key's password",
    )
    p.add_argument("--staging", action="store_true", help="keyless: Sigstore staging")
    p.add_argument("--trust-config", type=Path, metavar="FILE", help="keyless: private instance")
    p.add_argument("--identity-token", metavar="JWT", help="keyless: OIDC token to use")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mlgate.supplychain.modeldir import sign_model, unverified_subject_digest

    if args.cert_chain and not args.key:
        raise InputError("--cert-chain needs --key (the certificate's private key)")
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise InputError(f"environment variable {args.password_env} is not set")
    out = sign_model(
        args.model_dir,
        signature_path=args.signature,
        key=args.key,
        password=password,
        cert_chain=args.cert_chain,
        keyless=args.keyless,
        ignore=args.ignore,
        staging=args.staging,
        trust_config=args.trust_config,
        identity_token=args.identity_token,
    )
    bundle = out.read_bytes()
    digest = unverified_subject_digest(bundle)
    print(f"signed {args.model_dir} -> {out}  {digest}")
    print_annotations(
        digest, {"signature": base64.b64encode(bundle).decode()}, args.component, args.model_uri
    )
    return EXIT_OK
