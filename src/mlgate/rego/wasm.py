"""The embedded engine: the policy set compiled by OPA to WebAssembly, run by opa-py-wasm.

Semantics are OPA's own (its compiler wrote the module), except the builtins the Wasm target
leaves to the host, which mlgate implements OPA-exactly or refuses at build time
(``hostbuiltins``). opa-py-wasm keeps a bounded pool of instances, each used by one thread at a
time; the pool is sized to the caller's evaluation threads (``pool_size``). Data (catalogue,
parameters) is set with ``set_data``: a YAML edit needs no new module.

Every failure (a trap, a host builtin error, an undefined or malformed result, the time limit,
an input over the size limit, a busy pool past its wait) is an ``EvaluationError``, which the
engine turns into a fail-closed denial.
"""

from __future__ import annotations

import json
import os
from typing import Any

import orjson
from opapywasm import UNDEFINED, OpaWasmError, OpaWasmPolicy, PolicyConfig

from mlgate._internal import wasm_fast_call, wasm_native_cache
from mlgate._internal.opa_wasm_memory import declared_memory_minimum, ensure_initial_pages
from mlgate.errors import EvaluationError, PolicyError
from mlgate.policyset import PolicySet
from mlgate.rego.hostbuiltins import HOST_BUILTINS
from mlgate.rego.wasm_build import (
    BATCH_ENTRYPOINT,
    engine_sources,
    refuse_unsupported_host_builtins,
    wasm_for,
)

DEFAULT_POOL_SIZE = 4  # the webhook's default evaluation threads
MAX_INPUT_BYTES = 8 * 1024 * 1024  # above the webhook's 3 MiB body limit, after expansion
EVAL_TIMEOUT_S = 2.0  # a runaway module traps; the webhook's own deadline is 2.5 s
BORROW_TIMEOUT_S = 2.0


def new_policy(wasm: bytes, pool_size: int, eval_timeout_s: float) -> OpaWasmPolicy:
    """An opa-py-wasm policy for the module (with the memory workaround applied first, and
    the module's machine code from the on-disk cache when an earlier process compiled it, and
    its exports called directly, without wasmtime-py's per-call type checks)."""
    ensure_initial_pages(declared_memory_minimum(wasm))
    wasm_native_cache.install()
    wasm_fast_call.install()
    config = PolicyConfig(
        pool_size=pool_size,
        borrow_timeout_seconds=BORROW_TIMEOUT_S,
        max_input_bytes=MAX_INPUT_BYTES,
        eval_timeout_seconds=eval_timeout_s,
        parse_raw_json_input=False,  # input_json() writes it; no second parse
    )
    return OpaWasmPolicy.from_wasm_bytes(wasm, config)


def _go_text(value: Any) -> Any:
    """Strings as Go's JSON decoder leaves them: surrogate pairs joined, lone ones U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_go_text(k): _go_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_text(v) for v in value]
    return value


# Types orjson would write but json.dumps refuses (or writes differently) take the standard
# library's path, so both give the same answer on every input.
_PLAIN_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def input_json(document: Any) -> bytes:
    """The input as UTF-8 JSON for the module; EvaluationError if it is not plain JSON.

    orjson writes it (the bytes json.dumps writes, about 15x faster: this is on every
    decision). Whatever orjson refuses takes the standard library's path: strings with lone
    surrogates, which OPA's Wasm JSON parser rejects escaped (``"\\ud800"``) where the OPA
    server, like every Go program, reads U+FFFD, so they are converted the Go way first;
    integers beyond 64 bits; keys that are not strings. Non-finite numbers never get here:
    ``Engine.evaluate`` refuses them (``mlgate.numbers``) before any backend runs, and
    orjson would write them as null.
    """
    try:
        return orjson.dumps(document, option=_PLAIN_JSON_ONLY)
    except orjson.JSONEncodeError:
        pass
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise EvaluationError(f"the input is not plain JSON: {err}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(_go_text(document), ensure_ascii=False, separators=(",", ":")).encode()


def _checked(value: Any) -> dict[str, Any]:
    if value is UNDEFINED:
        raise EvaluationError("entrypoint mlgate/main/result is undefined for this input")
    if not isinstance(value, dict) or "findings" not in value:
        raise EvaluationError(f"entrypoint returned no findings: {value!r:.200}")
    return value


class WasmBackend:
    name = "wasm"

    def __init__(
        self,
        policy_set: PolicySet,
        *,
        pool_size: int | None = None,
        eval_timeout_s: float = EVAL_TIMEOUT_S,
        opa_binary: str | None = None,
    ) -> None:
        size = pool_size or int(os.environ.get("MLGATE_WASM_POOL", DEFAULT_POOL_SIZE))
        root = str(policy_set.root)
        modules, entrypoints = engine_sources(policy_set.modules)
        wasm = wasm_for(modules, entrypoints, root=root, opa_binary=opa_binary)
        try:
            self._policy = new_policy(wasm, max(1, size), eval_timeout_s)
        except OpaWasmError as err:
            raise PolicyError(f"the compiled policy does not load: {err}", location=root) from None
        try:
            required = self._policy.builtins
            refuse_unsupported_host_builtins(required, policy_set.modules, root)
            for name in required:
                self._policy.register_builtin(name, HOST_BUILTINS[name])
            self._policy.set_data(policy_set.data)
            self._entry = self._policy.entrypoints[policy_set.entrypoint]
            self._batch_entry = self._policy.entrypoints[BATCH_ENTRYPOINT]
        except KeyError:
            self._policy.close()
            raise PolicyError(
                f"the compiled policy has no entrypoint {policy_set.entrypoint}", location=root
            ) from None
        except BaseException:
            self._policy.close()
            raise
        self.host_builtins = sorted(required)
        self.pool_size = self._policy.pool_size

    def evaluate(self, input_document: dict[str, Any]) -> dict[str, Any]:
        raw = input_json(input_document)
        try:
            value = self._policy.evaluate(raw, self._entry)
        except OpaWasmError as err:
            raise EvaluationError(f"Wasm evaluation failed: {err}") from None
        return _checked(value)

    def evaluate_batch(self, input_documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``evaluate`` of each input, in one call into the module (wasm_build's batch rule).
        EvaluationError if any input fails: the caller then evaluates them one by one."""
        raw = b"[" + b",".join(input_json(doc) for doc in input_documents) + b"]"
        try:
            values = self._policy.evaluate(raw, self._batch_entry)
        except OpaWasmError as err:
            raise EvaluationError(f"Wasm evaluation failed: {err}") from None
        # An input whose result is undefined leaves no element: the count tells.
        if not isinstance(values, list) or len(values) != len(input_documents):
            raise EvaluationError("the batch gave no result for some input")
        return [_checked(value) for value in values]

    def close(self) -> None:
        self._policy.close()
