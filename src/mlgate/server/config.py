"""The webhook's settings: one dataclass, passed to worker processes as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

ENV_VAR = "MLGATE_SERVER_CONFIG"
MIB = 1024 * 1024


@dataclass
class ServerConfig:
    policy_dir: str | None = None  # None: mlgate.policyset.default_policy_dir()
    backend: str = "wasm"
    # Decision log. None disables it (development only: nothing proves what was admitted).
    audit_db: str | None = None
    audit_retention_days: float | None = 90.0
    audit_max_rows: int | None = 5_000_000
    # The masked inputs kept for `mlgate impact` (audit/replay_inputs.py): a shorter bound.
    audit_input_retention_days: float = 30.0
    audit_input_max_rows: int = 20_000
    audit_mask: str = "hash"
    audit_key_file: str | None = None
    audit_timeout_s: float = 1.5
    audit_prune_interval_s: float = 60.0
    # Failure handling. The evaluation deadline stays below the webhook's timeoutSeconds (5),
    # so mlgate answers (fail-closed) before the API server gives up on it.
    fail_open: bool = False
    timeout_s: float = 2.5
    eval_threads: int = 4
    # Input limits: the API server never sends more than ~3 MiB.
    max_body_bytes: int = 3 * MIB
    max_depth: int = 100
    # Work per request (server/limits.py): past any of these, a fast, explained denial.
    max_model_refs: int = 32
    max_containers: int = 64
    max_annotations: int = 128
    max_annotation_bytes: int = 256 * 1024
    # The evaluation queue (server/scheduler.py): bounded, and fair between users.
    max_queue: int = 256
    max_queue_per_user: int = 64
    # Connection hygiene (uvicorn and server/protocol.py): a slow or stalled client is cut off.
    tls_handshake_timeout_s: float = 5.0  # from TCP accept to the end of the TLS handshake
    header_timeout_s: float = 5.0  # from connection (after TLS) to the end of the headers
    body_timeout_s: float = 5.0  # from the end of the headers to the end of the body
    keep_alive_s: float = 30.0  # the API server reuses its connections to webhooks
    max_header_bytes: int = 16 * 1024
    max_connections: int = 512
    # Reloading.
    reload_interval_s: float = 2.0
    tls_reload_interval_s: float = 5.0
    # Namespace labels (the environment): a static file, a Kubernetes API URL, "in-cluster",
    # or None (in-cluster when running in a pod, otherwise every namespace is production).
    namespace_labels_file: str | None = None
    kube_api: str | None = None
    kube_token_file: str | None = None
    kube_ca_file: str | None = None
    namespace_ttl_s: float = 30.0
    log_level: str = "info"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_env(cls) -> ServerConfig:
        text = os.environ.get(ENV_VAR)
        return cls.from_json(text) if text else cls()
