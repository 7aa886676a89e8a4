"""Governance attestations: the promotion pipeline's signed word about a model.

An in-toto v1 statement whose subject is the model's root digest (the same digest its
model-signing signature names) and whose predicate (``https://mlgate.io/governance/v1``)
carries the model card, evaluation evidence, approvals and gate results. It travels as a
Sigstore bundle v0.3 with a DSSE envelope, signed with a key or a certificate chain, so the
webhook can trust the risk tier and the evidence without calling anyone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from mlgate.errors import InputError
from mlgate.supplychain.dsse import KeySigner
from mlgate.supplychain.facts import (
    GOVERNANCE_PREDICATE,
    IN_TOTO_STATEMENT_V1,
    AttestationFacts,
    normalize_digest,
)
from mlgate.supplychain.signature import inspect_bundle
from mlgate.supplychain.trust import DEFAULT_MAX_BUNDLE_BYTES, Scope, TrustPolicy

APPROVAL_FIELDS = ("role", "approver", "approved_at")


def _rfc3339(value: Any, where: str) -> str:
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"not an RFC 3339 timestamp: {value!r}", location=where, code="time.not_rfc3339"
            ) from None
    else:
        raise InputError(
            f"expected an RFC 3339 timestamp, got {value!r}",
            location=where,
            code="time.not_rfc3339",
        )
    if stamp.tzinfo is None:
        raise InputError(
            f"timestamp {value!r} has no time zone (add Z)", location=where, code="time.no_zone"
        )
    return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def validate_approvals(approvals: Any, where: str = "approvals") -> list[dict[str, str]]:
    """Each approval names a role, an approver and an RFC 3339 ``approved_at``."""
    if not isinstance(approvals, list | tuple):
        raise InputError("approvals must be a list", location=where, code="attestation.not_a_list")
    out = []
    for i, item in enumerate(approvals):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise InputError(
                "an approval must be a mapping", location=here, code="attestation.not_a_mapping"
            )
        missing = [f for f in APPROVAL_FIELDS if not item.get(f)]
        if missing:
            raise InputError(
                f"approval is missing {', '.join(missing)}",
                location=here,
                code="attestation.missing_field",
            )
        approval = {k: str(v) for k, v in item.items() if k != "approved_at"}
        approval["approved_at"] = _rfc3339(item["approved_at"], f"{here}.approved_at")
        out.append(approval)
    return out


def build_statement(
    *,
    model_name: str,
    model_digest: str,
    card: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    approvals: Sequence[Mapping[str, Any]],
    gates: Mapping[str, Any] | None = None,
    model_version: str | None = None,
    model_uri: str | None = None,
    model_uris: Sequence[str] = (),
    created_at: dt.datetime | str | None = None,
) -> dict[str, Any]:
    """The in-toto statement, validated; raises InputError naming the bad field.

    ``model_uris`` (and ``model_uri``) are the URIs the model is approved to be served from:
    admission denies a deployed URI that is not among them (SC-URI-BOUND).
    """
    digest = normalize_digest(model_digest)
    if digest is None:
        raise InputError(
            f"model digest {model_digest!r} is not sha256:<64 hex digits>",
            code="attestation.bad_digest",
        )
    if not model_name or not isinstance(model_name, str):
        raise InputError("model name must be a non-empty string", code="attestation.no_model_name")
    for name, value in (("card", card), ("evaluation", evaluation), ("gates", gates or {})):
        if not isinstance(value, Mapping):
            raise InputError("must be a mapping", location=name, code="attestation.not_a_mapping")
    created = _rfc3339(created_at or dt.datetime.now(dt.UTC), "created_at")
    uris = list(dict.fromkeys([*([model_uri] if model_uri else []), *model_uris]))
    for uri in uris:
        if not isinstance(uri, str) or not uri.strip():
            raise InputError(
                f"model URI {uri!r} must be a non-empty string", code="attestation.bad_uri"
            )
    model = {
        "name": model_name,
        "version": model_version or "",
        "uri": uris[0] if uris else "",
        "uris": uris,
    }
    predicate = {
        "card": dict(card),
        "evaluation": dict(evaluation),
        "approvals": validate_approvals(approvals),
        "gates": dict(gates or {}),
        "model": model,
        "created_at": created,
    }
    try:  # the predicate must survive a JSON round trip unchanged (no dates, no sets)
        json.dumps(predicate, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"attestation content is not plain JSON: {err}", code="attestation.not_json"
        ) from None
    return {
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{"name": model_name, "digest": {"sha256": digest.split(":", 1)[1]}}],
        "predicateType": GOVERNANCE_PREDICATE,
        "predicate": predicate,
    }


def create_attestation(signer: KeySigner, **statement: Any) -> bytes:
    """Signs a governance statement (see ``build_statement`` for the fields) -> bundle JSON."""
    payload = json.dumps(build_statement(**statement), sort_keys=True, separators=(",", ":"))
    return signer.sign_dsse(payload.encode())


def verify_attestation(
    bundle: bytes,
    declared_digest: str | None,
    trust: TrustPolicy,
    scope: Scope,
    *,
    source: str = "inline",
    max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
) -> AttestationFacts:
    """Signature-only verification -> signature facts plus ``predicate``.

    The predicate is released only when the attestation is trusted for this scope *and*
    names the declared digest; otherwise it is ``{}`` and ``error`` says why.
    """
    facts, statement = inspect_bundle(
        bundle,
        declared_digest,
        trust,
        scope,
        purpose="attestation",
        source=source,
        max_bytes=max_bytes,
    )
    predicate = (statement or {}).get("predicate")
    released = predicate if facts["trusted"] and isinstance(predicate, dict) else {}
    return AttestationFacts(**facts, predicate=released)
