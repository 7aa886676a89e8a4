"""Errors that front doors turn into one clear line (and CLI exit code 2).

Every error carries *where* it happened: a file and line, or a JSON path, so a user can fix
the input without reading a traceback; and *what* happened as a machine-readable ``code``, as
OPA's ``topdown.Error{Code: ...}`` does: each class has a default code (``input_error``,
``policy_error``, ...) and a raise site may name a finer one (``data.not_a_number``). Tests
and programs compare codes; the message is for people and may be reworded.
"""

from __future__ import annotations


class MlgateError(Exception):
    """Base class. ``str(err)`` is the one-line message shown to users; ``code`` is for programs."""

    code = "mlgate_error"

    def __init__(
        self, message: str, *, location: str | None = None, code: str | None = None
    ) -> None:
        self.message = message
        self.location = location
        if code is not None:
            self.code = code
        super().__init__(f"{location}: {message}" if location else message)


class InputError(MlgateError):
    """Malformed or unsupported input: a file, a manifest, an AdmissionReview."""

    code = "input_error"


class PolicyError(MlgateError):
    """The policy set (Rego, catalogue, parameters, exemptions, trust) cannot be loaded."""

    code = "policy_error"


class EvaluationError(MlgateError):
    """The Rego engine failed while deciding. The engine turns it into a fail-closed denial."""

    code = "evaluation_error"


class BackendUnavailable(EvaluationError):
    """The Rego backend could not be reached (OPA down, circuit open, timeout)."""

    code = "backend_unavailable"


class EvaluationCancelled(EvaluationError):
    """The caller gave up on this evaluation (its deadline passed): stop, decide nothing."""

    code = "evaluation_cancelled"


class VerificationError(MlgateError):
    """A signature, certificate or attestation did not verify."""

    code = "verification_error"


def location_of(path: str, line: int | None = None, json_path: str | None = None) -> str:
    """Formats ``file:line`` or ``file:/json/path`` for error messages."""
    if line is not None:
        return f"{path}:{line}"
    if json_path:
        return f"{path}:{json_path}"
    return path
