"""Embedded Rego evaluation with regopy (Microsoft rego-cpp).

The bundle is compiled once. rego-cpp interpreters are not thread-safe (a shared one gives
wrong answers under threads), so each thread gets its own, created on first use.
Strict builtin errors are on: without them a failing builtin is *undefined* and a deny rule
silently stops firing. Input goes in and the result comes out through ``compat`` (strings
escaped the way rego-cpp stores them, int64 range checked, output integrity-checked), and the
ASCII-only trim_space/lower/upper are replaced by OPA-exact versions; see ``compat``.

Decisions are cached: a bounded LRU keyed by a digest of the exact input document (canonical
JSON, so the key changes with any value, including context.now_ns), one cache per backend and
so per policy revision. Rego is deterministic given input and data, so a hit returns what a
fresh evaluation would; errors are never cached. ``MLGATE_DECISION_CACHE`` sets the size
(default 256, 0 disables it).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import threading
from collections import OrderedDict
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


def _cache_size_from_env() -> int:
    try:
        return max(0, int(os.environ.get("MLGATE_DECISION_CACHE", "256")))
    except ValueError:
        return 256


def _input_key(document: Any) -> bytes | None:
    """A digest of the exact input, or None when it is not plain JSON (then no caching).

    Canonical JSON keeps types apart (1, 1.0 and true differ); a non-JSON value (a numpy
    number, say) raises TypeError, and such inputs are simply evaluated every time.
    """
    try:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest()


class EmbeddedBackend:
    name = "embedded"

    def __init__(self, policy_set: PolicySet, *, cache_size: int | None = None) -> None:
        self.cache_size = _cache_size_from_env() if cache_size is None else max(0, cache_size)
        self._cache: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
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

    def cache_clear(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def evaluate(self, input_document: dict[str, Any]) -> dict[str, Any]:
        if self.cache_size <= 0:
            return self._evaluate(input_document)
        key = _input_key(input_document)
        if key is None:
            return self._evaluate(input_document)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
        if cached is not None:
            return copy.deepcopy(cached)  # callers may modify what they get
        value = self._evaluate(input_document)
        with self._cache_lock:
            self._cache[key] = copy.deepcopy(value)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return value

    def _evaluate(self, input_document: dict[str, Any]) -> dict[str, Any]:
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
        self.cache_clear()
