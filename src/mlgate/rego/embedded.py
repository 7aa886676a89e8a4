"""Embedded Rego evaluation with regopy (Microsoft rego-cpp).

The bundle is compiled once. rego-cpp interpreters are not thread-safe (a shared one gives
wrong answers under threads), so each thread gets its own, created on first use.
Strict builtin errors are on: without them a failing builtin is *undefined* and a deny rule
silently stops firing. Input goes in and the result comes out through ``compat`` (strings
escaped the way rego-cpp stores them, int64 range checked, output integrity-checked), and the
ASCII-only trim_space/lower/upper are replaced by OPA-exact versions; see ``compat``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from regopy import Interpreter
from regopy import rego_shared as rs
from regopy.output import Output

from mlgate.errors import EvaluationError, PolicyError
from mlgate.policyset import PolicySet
from mlgate.rego import compat


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
            # compat: OPA-exact trim_space/lower/upper, and an entrypoint that adds an
            # integrity summary of the result (checked when decoding rego-cpp's raw output).
            for rel, source in compat.rewrite(policy_set.modules, self._entrypoint).items():
                builder.add_module(rel, source)
            self._bundle = builder.build(None, [compat.SAFE_ENTRYPOINT])
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
            # compat.set_input escapes strings the way rego-cpp stores them (see compat).
            compat.set_input(interp, input_document)
            # The C API directly: regopy's Output would json.loads rego-cpp's raw text itself.
            impl = rs.rego_bundle_query_entrypoint(
                interp._impl, self._bundle._impl, compat.SAFE_ENTRYPOINT
            )
        except compat.InputRangeError as err:
            raise EvaluationError(str(err)) from None
        except Exception as err:
            raise EvaluationError(f"rego-cpp evaluation failed: {err}") from None
        if not rs.rego_output_ok(impl):
            output = Output(impl)  # owns impl from here
            raise EvaluationError(f"rego-cpp evaluation error: {_error_text(output)}")
        try:
            value = compat.decode_output(impl)
        except ValueError as err:
            raise EvaluationError(f"rego-cpp produced undecodable output ({err})") from None
        finally:
            rs.rego_free_output(impl)
        if value is None:
            raise EvaluationError(f"entrypoint {self._entrypoint} is undefined for this input")
        if not isinstance(value, dict) or "findings" not in value:
            raise EvaluationError(
                f"entrypoint {self._entrypoint} returned no findings: {value!r:.200}"
            )
        return value

    def close(self) -> None:
        self._local = threading.local()
