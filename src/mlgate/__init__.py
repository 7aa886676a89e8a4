"""mlgate: policy-as-code for machine-learning models, in CI and at admission."""

from mlgate.decision import Decision, Violation
from mlgate.engine import Engine
from mlgate.errors import EvaluationError, InputError, MlgateError, PolicyError

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
