"""Rego backends: wasm (OPA-compiled WebAssembly, the default) and an OPA server.

One small Protocol.

``wasm`` evaluates OPA-compiled WebAssembly (``wasm_build`` compiles it with OPA;
``hostbuiltins`` and ``gofmt`` implement the builtins the host provides); ``opa`` talks to an
OPA server (``opaprocess`` runs one). May import: ``mlgate.policyset``, ``mlgate.breaker``,
``mlgate.errors`` and ``mlgate._internal``; never the engine.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RegoBackend(Protocol):
    """Evaluates the policy set's entrypoint for one input document.

    Returns the entrypoint's value (``{"findings": [...], "risk_tier": str}``). Raises
    ``mlgate.errors.EvaluationError`` on any failure; never returns a partial result.
    """

    name: str

    def evaluate(self, input_document: dict[str, Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...
