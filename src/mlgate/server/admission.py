"""AdmissionReview admission.k8s.io/v1: strict parsing and responses the API server accepts.

Parsing rejects what the API server would never send (with the JSON path of the problem), so
a malformed or hostile body becomes an HTTP 400 instead of a confused decision. Responses
follow the v1 contract exactly: the request ``uid`` echoed, never a ``patch`` (this is a
validating webhook), ``status.code`` 403 on a policy denial, warnings short enough that the
API server passes them on untruncated, and audit annotation keys that are valid qualified
names (the API server prefixes them with the webhook name, so a key must not contain '/').
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlgate.decision import Decision, Violation

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})

# Kubernetes: "Limit warnings to 120 characters if possible"; longer ones and many of them
# may be truncated or dropped, so stay well inside.
MAX_WARNING_CHARS = 120
MAX_WARNINGS = 20
MAX_WARNINGS_TOTAL = 2048
MAX_STATUS_MESSAGE = 1024
MAX_ANNOTATION_VALUE = 512
STATUS_REASONS = {400: "BadRequest", 403: "Forbidden"}  # metav1.StatusReason

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"{}[]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")


class ReviewError(Exception):
    """The body is not an AdmissionReview we can answer: HTTP ``status`` with ``message``."""

    def __init__(self, message: str, status: int = 400, path: str = "") -> None:
        self.status = status
        self.path = path
        self.message = f"{path}: {message}" if path else message
        super().__init__(self.message)


@dataclass(frozen=True)
class AdmissionRequest:
    uid: str
    group: str
    version: str
    kind: str
    operation: str
    namespace: str
    name: str
    username: str
    groups: tuple[str, ...]
    dry_run: bool
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def kind_label(self) -> str:
        return self.kind or "unknown"


def json_depth(body: bytes) -> int:
    """Maximum nesting of a JSON text, without parsing it (strings cannot hide brackets)."""
    skeleton = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for char in skeleton:
        if char in b"{[":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def parse_review(body: bytes, *, max_depth: int = 100) -> AdmissionRequest:
    """Bytes -> AdmissionRequest, or ReviewError naming what is wrong and where."""
    if not body.strip():
        raise ReviewError("empty request body; expected an AdmissionReview")
    # Bracket count bounds the depth: skip the scan for ordinary objects.
    if body.count(b"{") + body.count(b"[") > max_depth:
        depth = json_depth(body)
        if depth > max_depth:
            raise ReviewError(f"JSON nesting depth {depth} exceeds the limit of {max_depth}")
    try:
        doc = json.loads(body)
    except RecursionError:
        raise ReviewError(f"JSON nesting exceeds the limit of {max_depth}") from None
    except UnicodeDecodeError as err:
        raise ReviewError(f"body is not UTF-8: {err.reason} at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise ReviewError(
            f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    if not isinstance(doc, dict):
        raise ReviewError(f"expected a JSON object, got {_type(doc)}", path="/")
    api_version = doc.get("apiVersion")
    if api_version != API_VERSION:
        raise ReviewError(
            f"unsupported apiVersion {api_version!r}: expected {API_VERSION!r} "
            "(set admissionReviewVersions: [v1] in the webhook configuration)",
            path="/apiVersion",
        )
    if doc.get("kind") != KIND:
        raise ReviewError(f"expected kind {KIND!r}, got {doc.get('kind')!r}", path="/kind")
    request = _mapping(doc.get("request"), "/request", required=True)
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError(
            "missing or empty uid (a non-empty string is required)", path="/request/uid"
        )
    gvk = _mapping(request.get("kind"), "/request/kind", required=True)
    operation = request.get("operation")
    if operation not in OPERATIONS:
        raise ReviewError(
            f"operation must be one of {', '.join(sorted(OPERATIONS))}, got {operation!r}",
            path="/request/operation",
        )
    user = _mapping(request.get("userInfo"), "/request/userInfo")
    groups = user.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ReviewError("groups must be a list of strings", path="/request/userInfo/groups")
    dry_run = request.get("dryRun", False)
    if dry_run is None:
        dry_run = False
    if not isinstance(dry_run, bool):
        raise ReviewError(f"dryRun must be a boolean, got {_type(dry_run)}", path="/request/dryRun")
    obj = request.get("object")
    if obj is not None and not isinstance(obj, dict):
        raise ReviewError(
            f"object must be a JSON object or null, got {_type(obj)}", path="/request/object"
        )
    old = request.get("oldObject")
    if old is not None and not isinstance(old, dict):
        raise ReviewError(
            f"oldObject must be a JSON object or null, got {_type(old)}", path="/request/oldObject"
        )
    if obj is None and operation in ("CREATE", "UPDATE"):
        raise ReviewError(f"{operation} without an object", path="/request/object")
    return AdmissionRequest(
        uid=uid,
        group=_string(gvk.get("group", ""), "/request/kind/group"),
        version=_string(gvk.get("version", ""), "/request/kind/version"),
        kind=_string(gvk.get("kind"), "/request/kind/kind", required=True),
        operation=operation,
        namespace=_string(request.get("namespace", ""), "/request/namespace"),
        name=_string(request.get("name", ""), "/request/name"),
        username=_string(user.get("username", ""), "/request/userInfo/username"),
        groups=tuple(groups),
        dry_run=dry_run,
        object=obj,
        old_object=old,
    )


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _mapping(value: Any, path: str, *, required: bool = False) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ReviewError(f"expected an object, got {_type(value)}", path=path)
    return value


def _string(value: Any, path: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ReviewError(f"expected a non-empty string, got {_type(value)}", path=path)
    return value


# -- responses --------------------------------------------------------------------------


def clean(text: str, limit: int) -> str:
    """One printable line of at most ``limit`` characters (HTTP warning headers need that)."""
    text = _CONTROL_CHARS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def sentence(text: str) -> str:
    """Text to be joined with ". ": without its own final full stop (no ".." in messages)."""
    return text[:-1] if text.endswith(".") and not text.endswith("...") else text


def review_response(
    uid: str,
    allowed: bool,
    *,
    code: int | None = None,
    message: str = "",
    warnings: list[str] | None = None,
    audit_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        status_code = code or 403
        response["status"] = {"code": status_code, "message": clean(message, MAX_STATUS_MESSAGE)}
        # The API server passes the reason on: kubectl prints "Error from server (Forbidden)",
        # and API clients get Status.reason, instead of an unexplained bare error.
        if status_code in STATUS_REASONS:
            response["status"]["reason"] = STATUS_REASONS[status_code]
    if warnings:
        response["warnings"] = bounded_warnings(warnings)
    if audit_annotations:
        response["auditAnnotations"] = {
            k: clean(str(v), MAX_ANNOTATION_VALUE) for k, v in audit_annotations.items()
        }
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}


def bounded_warnings(warnings: list[str]) -> list[str]:
    out: list[str] = []
    total = 0
    for i, text in enumerate(warnings):
        line = clean(text, MAX_WARNING_CHARS)
        if len(out) == MAX_WARNINGS - 1 or total + len(line) > MAX_WARNINGS_TOTAL - 64:
            out.append(f"mlgate: {len(warnings) - i} more warning(s); see the decision log")
            break
        out.append(line)
        total += len(line)
    return out


def violation_warning(v: Violation) -> str:
    return f"{v.control}: {v.message}"


def decision_warnings(decision: Decision) -> list[str]:
    """Warn-mode violations and applied exemptions, as kubectl shows them."""
    lines = [violation_warning(v) for v in decision.warnings]
    lines += [f"{e.control}: exempted by {e.id} until {e.expires}" for e in decision.exemptions]
    return lines


def denial_message(decision: Decision, kind: str, namespace: str, name: str) -> str:
    """Concise: what, which controls, the first fix, and the id to look the rest up by."""
    controls = list(dict.fromkeys(v.control for v in decision.violations))  # root cause first
    shown = ", ".join(controls[:4]) + (f" (+{len(controls) - 4} more)" if len(controls) > 4 else "")
    target = f"{kind} {namespace + '/' if namespace else ''}{name}".strip()
    first = decision.violations[0] if decision.violations else None
    parts = [f"mlgate denied {target}: {shown or 'no decision'}"]
    if first is not None:
        parts.append(f"{first.control}: {sentence(clean(first.message, 240))}")
        if first.remediation:
            parts.append(f"fix: {sentence(clean(first.remediation, 240))}")
    parts.append(f"decision {decision.decision_id}")
    return ". ".join(parts)


def audit_annotations(decision: Decision, *, fail_open: bool = False) -> dict[str, str]:
    out = {
        "decision-id": decision.decision_id,
        "allowed": "true" if decision.allowed else "false",
        "policy-revision": decision.policy_revision,
    }
    if decision.violations:
        out["denied-controls"] = ",".join(decision.denied_controls)
    if decision.warnings:
        out["warned-controls"] = ",".join(sorted({v.control for v in decision.warnings}))
    if decision.exemptions:
        out["exemptions"] = ",".join(sorted({e.id for e in decision.exemptions}))
    if decision.dry_run:
        out["dry-run"] = "true"
    if fail_open:
        out["fail-open"] = "true"
    return out
