"""``mlgate serve``: the validating admission webhook over TLS (uvicorn)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mlgate.errors import MlgateError
from mlgate.server.config import ServerConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the admission webhook (HTTPS)",
        description=(
            "Serve POST /validate (AdmissionReview admission.k8s.io/v1), /healthz, /readyz and "
            "/metrics over TLS. Plain HTTP needs --insecure."
        ),
    )
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--cert", type=Path, help="serving certificate (PEM), e.g. tls.crt")
    p.add_argument("--key", type=Path, help="its private key (PEM), e.g. tls.key")
    p.add_argument("--client-ca", type=Path, help="require client certificates from this CA (mTLS)")
    p.add_argument("--insecure", action="store_true", help="serve plain HTTP (development only)")
    p.add_argument("--policies", type=Path, help="policy directory (default: $MLGATE_POLICIES)")
    p.add_argument(
        "--backend",
        choices=("wasm", "opa", "embedded"),
        default="wasm",
        help="wasm: the embedded OPA-compiled WebAssembly engine ('embedded' is an alias); "
        "opa: an OPA server",
    )
    p.add_argument(
        "--audit-db",
        type=Path,
        default=os.environ.get("MLGATE_AUDIT_DB", "mlgate-audit.db"),
        help="decision log (SQLite; default $MLGATE_AUDIT_DB or ./mlgate-audit.db)",
    )
    p.add_argument("--no-audit", action="store_true", help="do not record decisions")
    p.add_argument(
        "--audit-retention-days",
        type=float,
        default=90.0,
        help="delete decision records older than this (default 90; the chain stays verifiable)",
    )
    p.add_argument(
        "--audit-max-rows", type=int, default=5_000_000, help="keep at most this many records"
    )
    p.add_argument(
        "--audit-input-retention-days",
        type=float,
        default=ServerConfig.audit_input_retention_days,
        help="delete the masked inputs kept for `mlgate impact` after this many days "
        f"(default {ServerConfig.audit_input_retention_days:g})",
    )
    p.add_argument(
        "--audit-input-max-rows",
        type=int,
        default=ServerConfig.audit_input_max_rows,
        help=f"keep at most this many inputs (default {ServerConfig.audit_input_max_rows})",
    )
    p.add_argument(
        "--audit-prune-interval",
        type=float,
        default=ServerConfig.audit_prune_interval_s,
        help=f"seconds between retention runs (default {ServerConfig.audit_prune_interval_s:g})",
    )
    p.add_argument(
        "--audit-mask",
        choices=("hash", "mask", "none"),
        default="hash",
        help="usernames and emails in the log: keyed hash (default), masked, or raw",
    )
    p.add_argument("--audit-key-file", type=Path, help="HMAC key for --audit-mask hash")
    p.add_argument(
        "--fail-open",
        action="store_true",
        help="admit (with a warning) when no decision can be made; default: deny",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=2.5,
        help="evaluation deadline in seconds; keep it below the webhook's timeoutSeconds",
    )
    p.add_argument("--eval-threads", type=int, default=4)
    p.add_argument("--workers", type=int, default=1, help="server processes (each has its engine)")
    p.add_argument("--max-body-bytes", type=int, default=3 * 1024 * 1024)
    p.add_argument("--max-depth", type=int, default=100, help="maximum JSON nesting depth")
    limits = p.add_argument_group(
        "limits", "bounded work per request and per connection (docs/reliability.md)"
    )
    limits.add_argument(
        "--max-model-refs", type=int, default=32, help="model references per object"
    )
    limits.add_argument("--max-containers", type=int, default=64, help="containers per object")
    limits.add_argument("--max-annotations", type=int, default=128, help="annotations per object")
    limits.add_argument("--max-annotation-bytes", type=int, default=256 * 1024)
    limits.add_argument("--max-queue", type=int, default=256, help="requests waiting in total")
    limits.add_argument(
        "--max-queue-per-user", type=int, default=64, help="requests waiting per user"
    )
    limits.add_argument(
        "--tls-handshake-timeout",
        type=float,
        default=ServerConfig.tls_handshake_timeout_s,
        help="seconds from TCP connect to a completed TLS handshake (default "
        f"{ServerConfig.tls_handshake_timeout_s:g}); a client that never completes it is dropped",
    )
    limits.add_argument(
        "--header-timeout", type=float, default=5.0, help="seconds to send the headers"
    )
    limits.add_argument("--body-timeout", type=float, default=5.0, help="seconds to send the body")
    limits.add_argument(
        "--keep-alive", type=float, default=30.0, help="idle connection timeout (s)"
    )
    limits.add_argument("--max-header-bytes", type=int, default=16 * 1024)
    limits.add_argument("--max-connections", type=int, default=512, help="then HTTP 503")
    p.add_argument("--reload-interval", type=float, default=2.0, help="policy poll interval (s)")
    p.add_argument("--tls-reload-interval", type=float, default=5.0, help="cert poll interval (s)")
    p.add_argument(
        "--namespace-labels",
        type=Path,
        help="YAML {namespace: {label: value}} instead of asking the Kubernetes API",
    )
    p.add_argument(
        "--kube-api",
        help="Kubernetes API URL for namespace labels, or 'in-cluster' (default when in a pod)",
    )
    p.add_argument("--kube-token-file", type=Path)
    p.add_argument("--kube-ca-file", type=Path)
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    p.set_defaults(handler=run)


def _check(args: argparse.Namespace) -> None:
    if args.insecure and (args.cert or args.key or args.client_ca):
        raise MlgateError(
            "--insecure serves plain HTTP: drop --cert, --key and --client-ca",
            code="serve.insecure_with_tls",
        )
    if not args.insecure:
        if not args.cert or not args.key:
            raise MlgateError(
                "the webhook serves HTTPS: pass --cert and --key (`mlgate certs --out DIR` "
                "makes a development pair), or --insecure for plain HTTP in development",
                code="serve.no_tls",
            )
        for flag, path in (
            ("--cert", args.cert),
            ("--key", args.key),
            ("--client-ca", args.client_ca),
        ):
            if path is not None and not path.is_file():
                raise MlgateError(f"{flag}: file not found", location=str(path))
    if args.timeout <= 0 or args.timeout >= 10:
        raise MlgateError(
            "--timeout must be between 0 and 10 seconds (webhook timeoutSeconds ≤ 10)"
        )
    if args.workers < 1 or args.eval_threads < 1:
        raise MlgateError("--workers and --eval-threads must be at least 1")
    for flag in (
        "max_model_refs", "max_containers", "max_annotations", "max_annotation_bytes",
        "max_queue", "max_queue_per_user", "max_header_bytes", "max_connections",
        "tls_handshake_timeout", "header_timeout", "body_timeout", "keep_alive",
        "audit_input_retention_days",
        "audit_input_max_rows", "audit_prune_interval",
    ):  # fmt: skip
        if getattr(args, flag) <= 0:
            raise MlgateError(
                f"--{flag.replace('_', '-')} must be positive", code="option.not_positive"
            )


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The webhook's settings from the command line."""
    return ServerConfig(
        policy_dir=str(args.policies) if args.policies else None,
        backend=args.backend,
        audit_db=None if args.no_audit else str(args.audit_db),
        audit_retention_days=args.audit_retention_days,
        audit_max_rows=args.audit_max_rows,
        audit_input_retention_days=args.audit_input_retention_days,
        audit_input_max_rows=args.audit_input_max_rows,
        audit_prune_interval_s=args.audit_prune_interval,
        audit_mask=args.audit_mask,
        audit_key_file=str(args.audit_key_file) if args.audit_key_file else None,
        fail_open=args.fail_open,
        timeout_s=args.timeout,
        eval_threads=args.eval_threads,
        max_body_bytes=args.max_body_bytes,
        max_depth=args.max_depth,
        max_model_refs=args.max_model_refs,
        max_containers=args.max_containers,
        max_annotations=args.max_annotations,
        max_annotation_bytes=args.max_annotation_bytes,
        max_queue=args.max_queue,
        max_queue_per_user=args.max_queue_per_user,
        tls_handshake_timeout_s=args.tls_handshake_timeout,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        keep_alive_s=args.keep_alive,
        max_header_bytes=args.max_header_bytes,
        max_connections=args.max_connections,
        reload_interval_s=args.reload_interval,
        tls_reload_interval_s=args.tls_reload_interval,
        namespace_labels_file=str(args.namespace_labels) if args.namespace_labels else None,
        kube_api=args.kube_api,
        kube_token_file=str(args.kube_token_file) if args.kube_token_file else None,
        kube_ca_file=str(args.kube_ca_file) if args.kube_ca_file else None,
        log_level=args.log_level,
    )


def run(args: argparse.Namespace) -> int:
    _check(args)
    import uvicorn

    from mlgate.server import logs
    from mlgate.server.config import ENV_VAR
    from mlgate.server.tls import ContextFactory, TlsFiles, build_context

    files = None
    if not args.insecure:
        files = TlsFiles(args.cert, args.key, args.client_ca)
        try:
            build_context(files)  # a bad pair fails here with a clear message, not in a worker
        except (OSError, ValueError) as err:
            raise MlgateError(f"cannot load the TLS certificate and key: {err}") from None
    config = server_config(args)
    # Workers are separate processes: they rebuild the app from this variable.
    os.environ[ENV_VAR] = config.to_json()
    logs.configure(args.log_level)
    uvicorn.run(
        "mlgate.server.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # uvloop with a TLS handshake deadline (a client that never finishes it is dropped).
        loop="mlgate.server.loop:HandshakeBoundedLoop",
        # httptools plus header/body deadlines and a header-size bound (slowloris).
        http="mlgate._internal.uvicorn_protocol:GuardedHttpToolsProtocol",
        ssl_context_factory=ContextFactory(files) if files else None,
        log_config=logs.uvicorn_log_config(args.log_level),
        access_log=False,
        # The API server keeps connections to webhooks open; do not make it re-handshake.
        timeout_keep_alive=round(config.keep_alive_s),
        # Past this many connections or in-flight requests, new requests get HTTP 503.
        limit_concurrency=config.max_connections,
        server_header=False,
    )
    return 0
