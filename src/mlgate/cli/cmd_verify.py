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
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from mlgate.cli.common import add_cert_chain_option
from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import InputError

if TYPE_CHECKING:
    from mlgate.supplychain.trust import TrustPolicy

EXPECT_ENV = "MLGATE_EXPECT_DIGEST"
MODELS_ENV = "MLGATE_MODELS"
ENVIRONMENT_ENV = "MLGATE_ENVIRONMENT"
NAMESPACE_ENV = "POD_NAMESPACE"


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    environ: Mapping[str, str] | None = None,
) -> None:
    env = os.environ if environ is None else environ
    p = subparsers.add_parser(
        "verify",
        help="verify a model directory against its signature",
        description=(
            "Verifies the files of DIR against a model-signing bundle and the signer against "
            "the given key, CA chain, keyless identity or trust policy. With --expect-digest "
            "the signature must also name that root digest. Exit 0 verified, 1 not, 2 usage."
        ),
    )
    p.add_argument("model_dir", nargs="?", type=Path, metavar="PATH", help="directory or file")
    p.add_argument("--model-dir", dest="model_dir_opt", type=Path, metavar="PATH")
    p.add_argument(
        "--signature", type=Path, metavar="SIG", help="default: DIR/model.sig or FILE.sig"
    )
    p.add_argument(
        "--expect-digest",
        metavar="sha256:HEX",
        help="required root digest (default: $MLGATE_EXPECT_DIGEST)",
    )
    p.add_argument(
        "--storage-uri",
        metavar="URI",
        help="pod start: the URI the model was downloaded from; its digest (and inline "
        "signature, if any) come from the mlgate.io/models JSON in $MLGATE_MODELS",
    )
    p.add_argument("--ignore", action="append", default=[], metavar="PATH")
    trust = p.add_argument_group("who may have signed (one of)")
    trust.add_argument("--key", type=Path, metavar="PEM", help="public key")
    add_cert_chain_option(trust, "CA certificates (give DIR first)")
    trust.add_argument(
        "--allow-intermediate-anchor",
        action="store_true",
        help="with --cert-chain: trust a non-root certificate given there as an anchor itself "
        "(default: only a self-signed root anchors the chain)",
    )
    trust.add_argument("--identity", metavar="ID", help="keyless: certificate identity (SAN)")
    trust.add_argument("--identity-regex", metavar="RE", help="keyless: identity, as a regex")
    trust.add_argument("--issuer", metavar="URL", help="keyless: OIDC issuer")
    trust.add_argument("--trust-config", type=Path, metavar="FILE", help="keyless: trust config")
    trust.add_argument("--staging", action="store_true", help="keyless: Sigstore staging root")
    trust.add_argument("--policies", type=Path, metavar="DIR", help="use DIR/trust.yaml")
    trust.add_argument(
        "--environment",
        default=env.get(ENVIRONMENT_ENV, "production"),
        help="with --policies: scope (default $MLGATE_ENVIRONMENT or production)",
    )
    trust.add_argument(
        "--namespace",
        default=env.get(NAMESPACE_ENV, "default"),
        help="with --policies: scope (default $POD_NAMESPACE or default)",
    )
    p.add_argument("--json", action="store_true", help="print the verification facts as JSON")
    p.set_defaults(handler=run)


def _trust(args: argparse.Namespace) -> TrustPolicy:
    from mlgate.supplychain.trust import TrustPolicy
    from mlgate.supplychain.trustload import single_authority_policy

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
            f"--identity/--issuer or --policies (got {', '.join(chosen) or 'none'})",
            code="verify.trust_choice",
        )
    if args.allow_intermediate_anchor and not args.cert_chain:
        raise InputError("--allow-intermediate-anchor applies to --cert-chain only")
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
        allow_intermediate_anchor=args.allow_intermediate_anchor,
    )


def _models_entry(storage_uri: str, env: Mapping[str, str]) -> dict[str, str] | None:
    from mlgate.subjects.base import normalize_uri
    from mlgate.subjects.binding import parse_models_annotation

    raw = env.get(MODELS_ENV)
    entries = parse_models_annotation(raw, "$" + MODELS_ENV) if raw else {}
    wanted = normalize_uri(storage_uri)
    return next((e for k, e in entries.items() if normalize_uri(k) == wanted), None)


def admitted_digest(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """The digest ``mlgate verify`` requires with these arguments in this environment:
    --expect-digest, else $MLGATE_EXPECT_DIGEST; with --storage-uri, the $MLGATE_MODELS entry
    for that URI wins. The webhook reads verifier init containers with this same function
    (subjects/verifiers.py), so what it admits is what the pod checks."""
    from mlgate.subjects.base import DIGEST

    expect = args.expect_digest or env.get(EXPECT_ENV) or None
    if args.storage_uri:
        entry = _models_entry(args.storage_uri, env)
        if entry is not None:
            expect = entry.get(DIGEST, expect)
    return expect


class _Refused(Exception):
    """``mlgate verify`` would exit on these arguments (usage error or --help)."""


class _QuietParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Refused(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _Refused(message or "")


def read_arguments(
    argv: list[str], environ: Mapping[str, str] | None = None
) -> argparse.Namespace | None:
    """How ``mlgate verify`` parses ``argv`` in a container with environment ``environ``
    (argparse: the last of a repeated flag wins, and unambiguous prefixes count), or None
    when it would refuse them."""
    root = _QuietParser(prog="mlgate", add_help=False)
    register(root.add_subparsers(dest="command", parser_class=_QuietParser), environ or {})
    try:
        return root.parse_args(["verify", *argv])
    except _Refused:
        return None


def _pod_start_evidence(args: argparse.Namespace) -> tuple[str | None, bytes | None]:
    """(expected digest, inline signature bundle) for the pod-start check.

    With --storage-uri the admitted digest is the mlgate.io/models entry for that URI (the
    pod gets the annotation through the downward API as $MLGATE_MODELS); a missing entry is
    a failure, never "nothing to check". $MLGATE_SIGNATURE (base64) overrides model.sig.
    """
    import base64
    import binascii

    from mlgate.subjects.base import SIGNATURE
    from mlgate.supplychain.facts import normalize_digest

    expect, inline = admitted_digest(args, os.environ), os.environ.get("MLGATE_SIGNATURE") or None
    if args.storage_uri:
        entry = _models_entry(args.storage_uri, os.environ)
        if entry is not None:
            inline = entry.get(SIGNATURE, inline)
        if expect is None:
            raise InputError(
                f"no admitted digest for {args.storage_uri}: set $MLGATE_EXPECT_DIGEST or an "
                "mlgate.io/models entry for it ($MLGATE_MODELS)"
            )
    if expect is not None and normalize_digest(expect) is None:
        raise InputError(f"expected digest {expect!r} is not sha256:<64 hex digits>")
    if inline is None:
        return expect, None
    try:
        return expect, base64.b64decode(inline, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("$MLGATE_SIGNATURE / the inline signature is not base64") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(err.strerror or str(err), location=str(path)) from None


def run(args: argparse.Namespace) -> int:
    from mlgate.cli.output import verify as output
    from mlgate.supplychain.facts import normalize_digest
    from mlgate.supplychain.modeldir import default_signature_path, verify_model_dir
    from mlgate.supplychain.trust import Scope

    if bool(args.model_dir) == bool(args.model_dir_opt):
        raise InputError("give the model directory once: DIR or --model-dir DIR")
    model_dir: Path = args.model_dir or args.model_dir_opt
    if args.expect_digest is not None and normalize_digest(args.expect_digest) is None:
        raise InputError(f"--expect-digest {args.expect_digest!r} is not sha256:<64 hex digits>")
    trust = _trust(args)
    expect, bundle = _pod_start_evidence(args)
    signature = args.signature or default_signature_path(model_dir)
    result = verify_model_dir(
        model_dir,
        bundle if bundle is not None else _read(signature),
        trust,
        Scope(args.environment, args.namespace),
        expect_digest=expect,
        ignore=args.ignore,
        signature_path=signature,
    )
    output.write(result, model_dir, as_json=args.json)
    return EXIT_OK if result.ok else EXIT_DENIED
