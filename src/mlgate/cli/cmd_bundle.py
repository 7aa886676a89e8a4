"""``mlgate bundle build|verify``: OPA-compatible, optionally signed, policy bundles.

Exit codes: 0 built / verified; 1 verification failed (bad or missing signature, a changed,
extra or missing file: the bundle must not be used); 2 usage, input or policy error (a
missing file, a key that cannot be read, a policy set that does not load).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import VerificationError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "bundle",
        help="build or verify an OPA bundle of the policy set",
        description="Builds OPA bundles (opa run --bundle) of a policy directory, signed like "
        "`opa build --signing-key`, and verifies them.",
    )
    sub = p.add_subparsers(dest="bundle_command", metavar="{build,verify}", required=True)

    b = sub.add_parser(
        "build",
        help="write bundle.tar.gz",
        description="Writes an OPA bundle: .manifest (revision = policy revision, roots "
        "[mlgate]), the Rego modules, data.json, the policy YAML files, and with --sign-key "
        "a .signatures.json that `opa run --verification-key` accepts.",
    )
    b.add_argument("policy_dir", type=Path, nargs="?", default=None, metavar="POLICY_DIR")
    b.add_argument("-o", "--output", type=Path, default=Path("bundle.tar.gz"), metavar="FILE")
    b.add_argument(
        "--sign-key",
        type=Path,
        default=None,
        metavar="KEY.pem",
        help="PEM private key (RSA or P-256)",
    )
    b.add_argument(
        "--signing-alg", choices=("RS256", "ES256"), default=None, help="default: from the key type"
    )
    b.add_argument(
        "--key-id",
        default="default",
        metavar="ID",
        help="key id in the JWT (default: 'default', OPA's default)",
    )
    b.add_argument(
        "--revision",
        default=None,
        metavar="R",
        help="manifest revision (default: the policy revision)",
    )
    b.add_argument("--output-format", choices=("text", "json"), default="text")
    b.set_defaults(handler=run_build)

    v = sub.add_parser(
        "verify",
        help="check a bundle's signature and every file hash",
        description="Verifies .signatures.json with the public key and checks that the signed "
        "file list equals the bundle exactly. Exit 1 if verification fails.",
    )
    v.add_argument("bundle", type=Path, metavar="BUNDLE")
    v.add_argument("--verification-key", type=Path, required=True, metavar="PUB.pem")
    v.add_argument(
        "--signing-alg", choices=("RS256", "ES256"), default=None, help="default: from the key type"
    )
    v.add_argument("--key-id", default=None, metavar="ID", help="require this key id")
    v.add_argument("--output-format", choices=("text", "json"), default="text")
    v.set_defaults(handler=run_verify)


def run_build(args: argparse.Namespace) -> int:
    from mlgate.policyset import default_policy_dir
    from mlgate.policyset.bundle import Signing, build_bundle

    signing = None
    if args.sign_key is not None:
        signing = Signing(args.sign_key, args.signing_alg, args.key_id)
    summary = build_bundle(
        args.policy_dir or default_policy_dir(),
        args.output,
        signing=signing,
        revision=args.revision,
    )
    if args.output_format == "json":
        print(json.dumps(summary, indent=2))
    else:
        signed = f", signed with key id {args.key_id!r}" if signing else ", unsigned"
        print(
            f"{summary['bundle']}: revision {summary['revision']}, {len(summary['files'])} files{signed}"
        )
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    from mlgate.policyset.bundle import verify_bundle

    try:
        result = verify_bundle(
            args.bundle, args.verification_key, alg=args.signing_alg, key_id=args.key_id
        )
    except VerificationError as err:
        if args.output_format == "json":
            print(
                json.dumps(
                    {
                        "bundle": str(args.bundle),
                        "verified": False,
                        "error": str(err),
                        "code": err.code,
                        "location": err.location,
                    }
                )
            )
        print(f"mlgate: bundle verification failed: {args.bundle}: {err}", file=sys.stderr)
        return EXIT_DENIED
    if args.output_format == "json":
        print(
            json.dumps(
                {
                    "bundle": str(args.bundle),
                    "verified": True,
                    "revision": result.revision,
                    "key_id": result.key_id,
                    "alg": result.alg,
                    "files": list(result.files),
                },
                indent=2,
            )
        )
    else:
        print(
            f"{args.bundle}: verified ({result.alg}, key id {result.key_id!r}), "
            f"revision {result.revision}, {len(result.files)} files"
        )
    return EXIT_OK
