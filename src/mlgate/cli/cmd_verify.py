"""``mlgate verify``: check a model directory against its signature.

Two uses, one code path (the admission verifier's):
* CI / by hand: ``mlgate verify DIR --signature SIG --key PEM`` (or ``--cert-chain``, or
  ``--identity ID --issuer URL`` for keyless, optionally ``--trust-config``/``--staging``).
* Pod start (init container): ``mlgate verify --model-dir /mnt/models --expect-digest
  sha256:... --policies /etc/mlgate``: the files on disk must be what was signed, and the
  signature must name the digest the webhook admitted. Any mismatch exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mlgate.cli.common import add_cert_chain_option
from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help="verify a model directory against its signature",
        description=(
            "Verifies the files of DIR against a model-signing bundle and the signer against "
            "the given key, CA chain, keyless identity or trust policy. With --expect-digest "
            "the signature must also name that root digest. Exit 0 verified, 1 not, 2 usage."
        ),
    )
    p.add_argument("model_dir", nargs="?", type=Path, metavar="DIR")
    p.add_argument("--model-dir", dest="model_dir_opt", type=Path, metavar="DIR")
    p.add_argument("--signature", type=Path, metavar="SIG", help="default: DIR/model.sig")
    p.add_argument("--expect-digest", metavar="sha256:HEX", help="required root digest")
    p.add_argument("--ignore", action="append", default=[], metavar="PATH")
    trust = p.add_argument_group("who may have signed (one of)")
    trust.add_argument("--key", type=Path, metavar="PEM", help="public key")
    add_cert_chain_option(trust, "CA certificates (give DIR first)")
    trust.add_argument("--identity", metavar="ID", help="keyless: certificate identity (SAN)")
    trust.add_argument("--identity-regex", metavar="RE", help="keyless: identity, as a regex")
    trust.add_argument("--issuer", metavar="URL", help="keyless: OIDC issuer")
    trust.add_argument("--trust-config", type=Path, metavar="FILE", help="keyless: trust config")
    trust.add_argument("--staging", action="store_true", help="keyless: Sigstore staging root")
    trust.add_argument("--policies", type=Path, metavar="DIR", help="use DIR/trust.yaml")
    trust.add_argument(
        "--environment",
        default=os.environ.get("MLGATE_ENVIRONMENT", "production"),
        help="with --policies: scope (default $MLGATE_ENVIRONMENT or production)",
    )
    trust.add_argument(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="with --policies: scope (default $POD_NAMESPACE or default)",
    )
    p.add_argument("--json", action="store_true", help="print the verification facts as JSON")
    p.set_defaults(handler=run)


def _trust(args: argparse.Namespace):  # -> TrustPolicy
    from mlgate.evidence.trust import TrustPolicy, single_authority_policy

    keyless = args.identity or args.identity_regex or args.issuer
    chosen = [
        n
        for n, v in (
            ("--key", args.key),
            ("--cert-chain", args.cert_chain),
            ("--identity/--issuer", keyless),
            ("--policies", args.policies),
        )
        if v
    ]
    if len(chosen) != 1:
        raise InputError(
            "choose exactly one way to trust the signer: --key, --cert-chain, "
            f"--identity/--issuer or --policies (got {', '.join(chosen) or 'none'})"
        )
    if (args.trust_config or args.staging) and not keyless:
        raise InputError("--trust-config and --staging apply to keyless (--identity) only")
    if args.policies:
        return TrustPolicy.from_policy_dir(args.policies)
    return single_authority_policy(
        key_pem=_read(args.key) if args.key else None,
        ca_pems=[_read(p) for p in args.cert_chain or []],
        identity=args.identity,
        identity_regex=args.identity_regex,
        issuer=args.issuer,
        staging=args.staging,
        trust_config=_read(args.trust_config) if args.trust_config else None,
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(err.strerror or str(err), location=str(path)) from None


def run(args: argparse.Namespace) -> int:
    from mlgate.evidence.signature import DEFAULT_SIGNATURE_NAME, normalize_digest, verify_model_dir
    from mlgate.evidence.trust import Scope

    if bool(args.model_dir) == bool(args.model_dir_opt):
        raise InputError("give the model directory once: DIR or --model-dir DIR")
    model_dir: Path = args.model_dir or args.model_dir_opt
    if args.expect_digest is not None and normalize_digest(args.expect_digest) is None:
        raise InputError(f"--expect-digest {args.expect_digest!r} is not sha256:<64 hex digits>")
    trust = _trust(args)
    signature = args.signature or model_dir / DEFAULT_SIGNATURE_NAME
    result = verify_model_dir(
        model_dir,
        _read(signature),
        trust,
        Scope(args.environment, args.namespace),
        expect_digest=args.expect_digest,
        ignore=args.ignore,
        signature_path=signature,
    )
    if args.json:
        print(json.dumps({"ok": result.ok, "message": result.message, **result.facts}, indent=2))
    elif result.ok:
        print(f"OK: {result.message}")
    else:
        print(f"FAIL: {model_dir}: {result.message}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_DENIED
