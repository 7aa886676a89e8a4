"""AdmissionReview admission.k8s.io/v1: strict parsing and responses the API server accepts.

Parsing rejects what the API server would never send (with the JSON path of the problem), so
a malformed or hostile body becomes an HTTP 400 instead of a confused decision. Responses
follow the v1 contract exactly: the request ``uid`` echoed, never a ``patch`` (this is a
validating webhook), ``status.code`` 403 on a policy denial, warnings short enough that the
API server passes them on untruncated, and audit annotation keys that are valid qualified
names (the API server prefixes them with the webhook name, so a key must not contain '/').

Over 400 lines because it is the whole AdmissionReview v1 contract in one place (strict parser
with JSON paths, and the response builder): reviewers check both sides of the wire together.
"""

from __future__ import annotations

import json
import math
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
# An escaped UTF-16 surrogate in the body: the only way a lone surrogate gets into the parse.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Kubernetes integers are int64 (19 digits) or, rarely, uint64 (20): anything longer is hostile,
# and past 4,300 digits Python's int() itself refuses.
MAX_INT_DIGITS = 20
# The API server serialises AdmissionRequest with uid first (Go struct field order): enough to
# answer an oversized body by its uid without parsing it.
_HEAD_UID = re.compile(rb'"request"\s*:\s*\{\s*"uid"\s*:\s*"([A-Za-z0-9._:-]{1,128})"')


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


class _Rejected(ValueError):
    """Raised from inside the JSON decoder's hooks: JSON the API server never produces."""


def _strict_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise _Rejected(f"integer of {digits} digits (at most {MAX_INT_DIGITS} allowed)")
    return int(text)


def _strict_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Rejected(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise _Rejected(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Rejected(f"duplicate key {key[:60]!r} in one object")
            seen.add(key)
    return out


def strict_json(body: bytes | str) -> Any:
    """``json.loads`` that refuses what encoding/json never writes, as ``_Rejected``.

    Duplicate keys (Python keeps the last, Go's decoder and other readers may not), integers
    too long for int64, non-finite numbers and NaN/Infinity literals.
    """
    return json.loads(
        body,
        object_pairs_hook=_unique_keys,
        parse_int=_strict_int,
        parse_float=_strict_float,
        parse_constant=_no_constant,
    )


def lone_surrogate_path(doc: Any, path: str = "") -> str | None:
    """The JSON pointer of the first string or key holding a lone UTF-16 surrogate."""
    if isinstance(doc, str):
        return path or "/" if _SURROGATE.search(doc) else None
    if isinstance(doc, dict):
        for key, value in doc.items():
            where = f"{path}/{_pointer_token(key)}"
            if _SURROGATE.search(key):
                return where
            found = lone_surrogate_path(value, where)
            if found is not None:
                return found
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found = lone_surrogate_path(value, f"{path}/{i}")
            if found is not None:
                return found
    return None


def _pointer_token(key: str) -> str:
    # A surrogate in a pointer would break every log line that names it: show it escaped.
    key = key.replace("~", "~0").replace("/", "~1")
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def uid_at_head(head: bytes) -> str | None:
    """The request uid of an AdmissionReview from its first bytes (for oversized bodies)."""
    match = _HEAD_UID.search(head)
    return match.group(1).decode() if match else None


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
        doc = strict_json(body)
    except _Rejected as err:
        raise ReviewError(f"invalid JSON: {err}") from None
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
    if _SURROGATE_ESCAPE.search(body):
        where = lone_surrogate_path(doc)
        if where is not None:
            raise ReviewError("lone UTF-16 surrogate in a string (not valid Unicode)", path=where)
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
    if not isinstance(operation, str) or operation not in OPERATIONS:  # {} is unhashable
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
    group = _string(gvk.get("group", ""), "/request/kind/group")
    version = _string(gvk.get("version", ""), "/request/kind/version")
    kind = _string(gvk.get("kind"), "/request/kind/kind", required=True)
    namespace = _string(request.get("namespace", ""), "/request/namespace")
    if operation in ("CREATE", "UPDATE"):  # the objects that get evaluated
        for value, where in ((obj, "/request/object"), (old, "/request/oldObject")):
            if value is not None:
                _check_type_meta(value, group, version, kind, namespace, where)
    return AdmissionRequest(
        uid=uid,
        group=group,
        version=version,
        kind=kind,
        operation=operation,
        namespace=namespace,
        name=_string(request.get("name", ""), "/request/name"),
        username=_string(user.get("username", ""), "/request/userInfo/username"),
        groups=tuple(groups),
        dry_run=dry_run,
        object=obj,
        old_object=old,
    )


def _check_type_meta(
    obj: dict[str, Any], group: str, version: str, kind: str, namespace: str, where: str
) -> None:
    """The object is what request.kind says: the API server sends it in that very version.

    Otherwise the adapter (chosen by the object's kind) and the webhook rules (matched on
    request.kind) would look at two different things.
    """
    expected = f"{group}/{version}" if group else version
    if obj.get("apiVersion") != expected:
        raise ReviewError(
            f"apiVersion {_short(obj.get('apiVersion'))} does not match request.kind "
            f"({expected!r})",
            path=f"{where}/apiVersion",
        )
    if obj.get("kind") != kind:
        raise ReviewError(
            f"kind {_short(obj.get('kind'))} does not match request.kind.kind ({kind!r})",
            path=f"{where}/kind",
        )
    meta = obj.get("metadata")
    object_namespace = meta.get("namespace") if isinstance(meta, dict) else None
    # An object that names a namespace must name the request's: without request.namespace the
    # webhook would judge the object by the namespace it claims for itself (found by
    # `make fuzz`: a review with request.namespace cut out, judged as its object's ml-dev).
    if object_namespace and object_namespace != namespace:
        raise ReviewError(
            f"namespace {_short(object_namespace)} does not match request.namespace "
            f"({namespace!r})",
            path=f"{where}/metadata/namespace",
        )


def _short(value: Any) -> str:
    return repr(value)[:80]


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
