"""Full library decision cost on the whole shipped policy set (DESIGN.md section 7: p99 <= 1 ms).

Measures, in one run and on the same inputs:
  * engine.evaluate(doc, validate=False)  - the hot path the webhook uses (inputs built by adapters)
  * engine.evaluate(doc)                  - with JSON-Schema validation of the input (CLI/eval)
  * backend.evaluate(doc)                 - Rego alone, to show where the time goes
  * decide(doc, answer)                   - the decision layer alone, on the Rego's answer
  (the hot path's record also counts the collector's runs during it: gc_collections)
  * engine.evaluate_subject(subject)      - adapter + cached signature verification + Rego
The embedded engine is OPA-compiled WebAssembly. Two more figures per input explain where its
time goes and why there is no decision cache any more:
  * host builtin calls: how many calls per decision leave the module for Python (sprintf,
    time.date) and the share of the Rego time they take;
  * input_key: what keying a decision cache on the exact input would cost at best (canonical
    JSON by orjson + blake2b). Admission inputs carry the request time (context.now_ns), and
    `mlgate check` inputs are distinct objects, so such a cache never hits on either; the
    former rego-cpp engine had one, the Wasm engine does not.
  * backend.evaluate_batch: mlgate check's path, 32 inputs per call into the module.

Usage: python bench/bench_engine.py [--n 2000] [--quick]
Output: JSON lines (one per measurement) with median/p90/p99 in microseconds.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, percentiles, time_calls

REPO = Path(__file__).resolve().parents[1]


def representative_inputs(engine) -> list[tuple[str, dict]]:
    """bench_backends.py's inputs: the policy-test bases, a denied and an exempted variant,
    and the inputs the subject adapters build from examples/k8s (up to 47 findings)."""
    from bench_backends import inputs

    return [(name, engine.with_card_evidence(doc)) for name, doc in inputs(engine)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 300 if args.quick else args.n

    from mlgate.decide import decide
    from mlgate.engine import Engine

    engine = Engine.from_path(REPO / "policies", pool_size=1)
    gc.freeze()  # as `mlgate serve` does after start-up: collections skip start-up's objects
    host = _count_host_calls(engine.backend)
    rules = sum(src.count("findings contains") for src in engine.policy_set.modules.values())
    for name, doc in representative_inputs(engine):
        decision = engine.evaluate(doc, validate=False)
        base = {
            "bench": "engine",
            "input": name,
            "findings": len(engine.backend.evaluate(doc)["findings"]),
            "controls": len(engine.policy_set.catalogue),
            "rules": rules,
            "violations": len(decision.violations),
        }
        collections = sum(g["collections"] for g in gc.get_stats())
        hot = percentiles(time_calls(lambda d=doc: engine.evaluate(d, validate=False), n))
        hot["gc_collections"] = sum(g["collections"] for g in gc.get_stats()) - collections
        validated = percentiles(time_calls(lambda d=doc: engine.evaluate(d), n))
        rego = percentiles(time_calls(lambda d=doc: engine.backend.evaluate(d), n))
        emit({**base, "path": "evaluate(validate=False)", **hot, "budget_p99_us": 1000})
        emit({**base, "path": "evaluate(validate=True)", **validated})
        emit({**base, "path": "backend.evaluate (rego only)", **rego})
        # The decision layer alone, on the module's answer (where the rest of a decision goes).
        answer = engine.backend.evaluate(doc)
        layer = percentiles(
            time_calls(lambda d=doc, a=answer: decide(d, a, engine.policy_set, "wasm"), n)
        )
        emit({**base, "path": "decide (decision layer alone)", **layer})
        # mlgate check's path: 32 inputs per call into the module (per input).
        batch = [doc] * 32
        batched = time_calls(lambda b=batch: engine.backend.evaluate_batch(b), max(10, n // 32))
        per_input = percentiles([t / len(batch) for t in batched])
        emit(
            {
                **base,
                "path": "backend.evaluate_batch (rego only, per input, 32 a call)",
                **per_input,
            }
        )
        if host is not None:
            host["calls"], host["seconds"] = 0, 0.0
            started = time.perf_counter()
            for _ in range(50):
                engine.backend.evaluate(doc)
            total = time.perf_counter() - started
            emit(
                {
                    **base,
                    "path": "host builtins",
                    "calls_per_decision": host["calls"] / 50,
                    "share_of_rego_time": round(host["seconds"] / total, 3),
                }
            )
        key = percentiles(time_calls(lambda d=doc: _input_key(d), n))
        emit({**base, "path": "input_key (a decision cache's lookup cost)", **key})
        emit(
            {
                **base,
                "path": "ratio",
                "rego_share_of_hot_median": round(rego["median_us"] / hot["median_us"], 3),
                "validation_overhead_x": round(validated["median_us"] / hot["median_us"], 3),
            }
        )
    _subject_path(engine, n)


def _input_key(doc: dict) -> bytes:
    """The cheapest exact key: canonical JSON (orjson, sorted keys) and blake2b."""
    import orjson

    text = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(text, digest_size=20).digest()


def _count_host_calls(backend) -> dict | None:
    """Wraps the backend's host builtins with counters (None for a backend without them)."""
    policy = getattr(backend, "_policy", None)
    if policy is None:
        return None
    from mlgate.rego.hostbuiltins import HOST_BUILTINS

    stats = {"calls": 0, "seconds": 0.0}

    def counted(fn):
        def call(*args):
            started = time.perf_counter()
            try:
                return fn(*args)
            finally:
                stats["calls"] += 1
                stats["seconds"] += time.perf_counter() - started

        return call

    for name in backend.host_builtins:
        policy.register_builtin(name, counted(HOST_BUILTINS[name]))
    return stats


def _subject_path(engine, n: int) -> None:
    """Adapter + supply-chain evidence (cached after the first call) + Rego."""
    from mlgate.cli.cmd_check import load_documents
    from mlgate.subjects import RequestInfo, subject_from_object

    manifest = REPO / "examples" / "manifests" / "credit-scorer.yaml"
    if not manifest.exists():
        return
    doc, _ = load_documents(manifest)[0]
    subject = subject_from_object(doc, RequestInfo(source="manifest"), base_dir=manifest.parent)
    cold = percentiles(time_calls(lambda: engine.evaluate_subject(subject), 1, warmup=0))
    warm = percentiles(time_calls(lambda: engine.evaluate_subject(subject), n))
    emit({"bench": "engine", "input": manifest.name, "path": "evaluate_subject first call", **cold})
    emit(
        {
            "bench": "engine",
            "input": manifest.name,
            "path": "evaluate_subject (cached evidence)",
            **warm,
            "budget_p99_us": 1000,
        }
    )


if __name__ == "__main__":
    main()
