"""mlgate: policy-as-code for machine-learning models, in CI and at admission."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlgate.errors import EvaluationError, InputError, MlgateError, PolicyError

if TYPE_CHECKING:
    from mlgate.decision import Decision, Violation
    from mlgate.engine import Engine

__all__ = [
    "Decision",
    "Engine",
    "EvaluationError",
    "InputError",
    "MlgateError",
    "PolicyError",
    "Violation",
]
__version__ = "0.1.0"

# The engine pulls in jsonschema, cryptography and the Rego backend: import it on first use
# (PEP 562), so that ``import mlgate.cli`` (every CLI start) does not pay for it.
_LAZY = {"Decision": "mlgate.decision", "Violation": "mlgate.decision", "Engine": "mlgate.engine"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlgate' has no attribute {name!r}")
