"""Errors that front doors turn into one clear line (and CLI exit code 2).

Every error carries *where* it happened: a file and line, or a JSON path, so a user can fix
the input without reading a traceback.
"""

from __future__ import annotations


class MlgateError(Exception):
    """Base class. ``str(err)`` is the one-line message shown to users."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class InputError(MlgateError):
    """Malformed or unsupported input: a file, a manifest, an AdmissionReview."""


class PolicyError(MlgateError):
    """The policy set (Rego, catalogue, parameters, exemptions, trust) cannot be loaded."""


class EvaluationError(MlgateError):
    """The Rego engine failed while deciding. The engine turns it into a fail-closed denial."""


class BackendUnavailable(EvaluationError):
    """The Rego backend could not be reached (OPA down, circuit open, timeout)."""


class EvaluationCancelled(EvaluationError):
    """The caller gave up on this evaluation (its deadline passed): stop, decide nothing."""


class VerificationError(MlgateError):
    """A signature, certificate or attestation did not verify."""


def location_of(path: str, line: int | None = None, json_path: str | None = None) -> str:
    """Formats ``file:line`` or ``file:/json/path`` for error messages."""
    if line is not None:
        return f"{path}:{line}"
    if json_path:
        return f"{path}:{json_path}"
    return path
