"""``mlgate console``: the read-only compliance console, on its own port (never the webhook's)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError

ADMISSION_PORT = 8443  # `mlgate serve`'s default


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "console",
        help="serve the read-only compliance console (HTTPS, token or mTLS)",
        description=(
            "Serve the read-only web console: models, decisions (filterable), controls with "
            "their articles and parameters, exemptions with their expiry, and an impact view. "
            "Server-rendered HTML without scripts or external assets, over TLS, authenticated "
            "by a bearer token (--token-file) and/or client certificates (--client-ca). It runs "
            "as its own process and refuses the admission webhook's port."
        ),
    )
    p.add_argument(
        "--audit-db",
        type=Path,
        default=Path(os.environ.get("MLGATE_AUDIT_DB", "mlgate-audit.db")),
        help="decision log (default $MLGATE_AUDIT_DB or ./mlgate-audit.db)",
    )
    p.add_argument("--policies", type=Path, help="policy directory (default: shipped policies/)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8444)
    p.add_argument(
        "--admission-port",
        type=int,
        default=ADMISSION_PORT,
        help=f"the webhook's port, which the console refuses (default {ADMISSION_PORT})",
    )
    p.add_argument("--cert", type=Path, help="serving certificate (PEM)")
    p.add_argument("--key", type=Path, help="serving key (PEM)")
    p.add_argument("--client-ca", type=Path, help="require client certificates from this CA")
    p.add_argument("--token-file", type=Path, help="file holding the bearer token (>= 16 chars)")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="plain HTTP, allowed on a loopback address only (development)",
    )
    p.add_argument("--proposed", metavar="SPEC", help="proposed policy set for the impact view")
    p.add_argument("--impact-since", default="30d", help="impact view window (default 30d)")
    p.set_defaults(handler=run)


def _check(args: argparse.Namespace) -> None:
    if args.port == args.admission_port:
        raise MlgateError(
            f"the console never shares the admission webhook's port ({args.admission_port}); "
            "choose another --port",
            code="console.webhook_port",
        )
    if args.token_file is None and args.client_ca is None:
        raise MlgateError(
            "the console needs authentication: --token-file and/or --client-ca",
            code="console.no_auth",
        )
    if args.insecure:
        if args.cert or args.key or args.client_ca:
            raise MlgateError(
                "--insecure serves plain HTTP: drop --cert, --key and --client-ca",
                code="console.insecure_with_tls",
            )
        try:
            loopback = ipaddress.ip_address(args.host).is_loopback
        except ValueError:
            loopback = args.host == "localhost"
        if not loopback:
            raise MlgateError(
                "--insecure is allowed on a loopback address only", code="console.not_loopback"
            )
    elif not args.cert or not args.key:
        raise MlgateError(
            "the console serves HTTPS: pass --cert and --key (see `mlgate certs`)",
            code="console.no_tls",
        )
    if not args.audit_db.exists():
        raise MlgateError(
            "audit database not found", location=str(args.audit_db), code="audit.not_found"
        )


def run(args: argparse.Namespace) -> int:
    _check(args)
    import uvicorn

    from mlgate.audit.masking import KEY_ENV
    from mlgate.console.app import ConsoleConfig, create_app
    from mlgate.console.auth import read_token
    from mlgate.policyset import default_policy_dir

    key_file = Path(f"{args.audit_db}.key")
    mask_key = (
        os.environ[KEY_ENV].encode()
        if os.environ.get(KEY_ENV)
        else key_file.read_bytes().strip()
        if key_file.exists()
        else None
    )
    app = create_app(
        ConsoleConfig(
            audit_db=args.audit_db,
            policy_dir=args.policies or default_policy_dir(),
            token=read_token(args.token_file) if args.token_file else None,
            secure_cookie=not args.insecure,
            proposed=args.proposed,
            impact_since=args.impact_since,
            mask_key=mask_key,
        )
    )
    tls: dict[str, Any] = {}
    if not args.insecure:
        tls = {"ssl_certfile": str(args.cert), "ssl_keyfile": str(args.key)}
        if args.client_ca:
            tls |= {"ssl_ca_certs": str(args.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", server_header=False, **tls
    )
    return 0
