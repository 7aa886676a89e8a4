"""Embedded Rego evaluation with regopy (Microsoft rego-cpp).

The bundle is compiled once. rego-cpp interpreters are not thread-safe (a shared one gives
wrong answers under threads), so each thread gets its own, created on first use.
Strict builtin errors are on: without them a failing builtin is *undefined* and a deny rule
silently stops firing.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from regopy import Interpreter

from mlgate.errors import EvaluationError, PolicyError
from mlgate.policyset import PolicySet


def _error_text(output: Any) -> str:
    """Flattens rego-cpp's error tree (errorseq > error > msg, ast, code) into one line."""
    from regopy import rego_shared as rs

    texts: list[str] = []

    def walk(impl: Any, depth: int) -> None:
        if depth > 8:
            return
        try:
            value = rs.rego_node_value(impl)
        except Exception:  # interior nodes have no value
            value = ""
        if isinstance(value, str) and value.strip():
            texts.append(value.strip())
        for i in range(rs.rego_node_size(impl)):
            walk(rs.rego_node_get(impl, i), depth + 1)

    with contextlib.suppress(Exception):
        walk(output.node()._impl, 0)
    return ": ".join(dict.fromkeys(texts)) or "rego-cpp reported an error without details"


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, policy_set: PolicySet) -> None:
        self._entrypoint = policy_set.entrypoint
        builder = Interpreter()
        builder.strict_built_in_errors = True
        try:
            builder.add_data(policy_set.data)
            for rel, source in policy_set.modules.items():
                builder.add_module(rel, source)
            self._bundle = builder.build(None, [self._entrypoint])
        except Exception as err:
            raise PolicyError(
                f"Rego compilation failed: {err}", location=str(policy_set.root)
            ) from None
        self._local = threading.local()

    def _interpreter(self) -> Interpreter:
        interp = getattr(self._local, "interp", None)
        if interp is None:
            interp = Interpreter()
            interp.strict_built_in_errors = True
            self._local.interp = interp
        return interp

    def evaluate(self, input_document: dict[str, Any]) -> dict[str, Any]:
        interp = self._interpreter()
        try:
            interp.set_input(input_document)
            output = interp.query_bundle_entrypoint(self._bundle, self._entrypoint)
        except json.JSONDecodeError:
            # regopy raises this when a builtin (base64.decode, io.jwt.decode) fails.
            raise EvaluationError("a builtin failed inside rego-cpp (undecodable result)") from None
        except Exception as err:
            raise EvaluationError(f"rego-cpp evaluation failed: {err}") from None
        if not output.ok():
            raise EvaluationError(f"rego-cpp evaluation error: {_error_text(output)}")
        if not output.results:
            raise EvaluationError(f"entrypoint {self._entrypoint} is undefined for this input")
        result = output.results[0]
        value = _first_expression(result)
        if not isinstance(value, dict) or "findings" not in value:
            raise EvaluationError(
                f"entrypoint {self._entrypoint} returned no findings: {value!r:.200}"
            )
        return value

    def close(self) -> None:
        self._local = threading.local()


def _first_expression(result: Any) -> Any:
    expressions = getattr(result, "expressions", None)
    return expressions[0] if expressions else None
