"""``mlgate certs --out DIR``: a development CA and serving certificate (a TLS Secret's files)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "certs",
        help="write a development CA and webhook serving certificate",
        description=(
            "Write ca.crt (the webhook's caBundle), ca.key, tls.crt and tls.key. The serving "
            "certificate names the webhook Service plus localhost and 127.0.0.1."
        ),
    )
    p.add_argument("--out", type=Path, required=True, help="directory to write to")
    p.add_argument(
        "--hosts",
        help="comma-separated DNS names / IPs for the serving certificate "
        "(default: mlgate-webhook.mlgate-system.svc[.cluster.local], localhost, 127.0.0.1)",
    )
    p.add_argument("--days", type=int, default=365, help="validity of the serving certificate")
    p.add_argument(
        "--reuse-ca",
        action="store_true",
        help="issue from the existing ca.crt/ca.key in --out (rotation without a new caBundle)",
    )
    p.add_argument(
        "--client",
        metavar="NAME",
        help="also write client.crt/client.key for this common name (mTLS clients)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mlgate.server.certs import issue

    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()] if args.hosts else None
    issued = issue(
        args.out, hosts=hosts, days=args.days, reuse_ca=args.reuse_ca, client=args.client
    )
    for path in (issued.ca_cert, issued.cert, issued.key, issued.client_cert, issued.client_key):
        if path is not None:
            print(path)
    return 0
