"""Full library decision cost on the whole shipped policy set (DESIGN.md section 7: p99 <= 1 ms).

Measures, in one run and on the same inputs:
  * engine.evaluate(doc, validate=False)  - the hot path the webhook uses (inputs built by adapters)
  * engine.evaluate(doc)                  - with JSON-Schema validation of the input (CLI/eval)
  * backend.evaluate(doc)                 - Rego alone, to show where the time goes
  * engine.evaluate_subject(subject)      - adapter + cached signature verification + Rego
All of these are cold: the embedded backend's decision cache is turned off for them. One more
line per input, "backend.evaluate (decision cache hit)", shows the cached path separately.

Usage: python bench/bench_engine.py [--n 2000] [--quick]
Output: JSON lines (one per measurement) with median/p90/p99 in microseconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, percentiles, time_calls

REPO = Path(__file__).resolve().parents[1]


def representative_inputs() -> list[tuple[str, dict]]:
    """The policy-test bases: realistic, complete canonical inputs."""
    from mlgate.policytest import Suite  # the policy-test loader (bases loaded once, copied)

    suite = Suite(REPO / "policy-tests")
    paths = sorted((REPO / "policy-tests" / "bases").glob("*.yaml"))
    return [(p.stem, suite.base(p.stem, str(p))) for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 300 if args.quick else args.n

    from mlgate.engine import Engine

    engine = Engine.from_path(REPO / "policies")
    cache = getattr(engine.backend, "cache_size", None)
    if cache is not None:
        engine.backend.cache_size = 0  # cold numbers (the budget claim); cached ones below
    rules = sum(src.count("findings contains") for src in engine.policy_set.modules.values())
    for name, doc in representative_inputs():
        decision = engine.evaluate(doc)
        base = {
            "bench": "engine",
            "input": name,
            "controls": len(engine.policy_set.catalogue),
            "rules": rules,
            "violations": len(decision.violations),
        }
        hot = percentiles(time_calls(lambda d=doc: engine.evaluate(d, validate=False), n))
        validated = percentiles(time_calls(lambda d=doc: engine.evaluate(d), n))
        rego = percentiles(time_calls(lambda d=doc: engine.backend.evaluate(d), n))
        emit({**base, "path": "evaluate(validate=False)", **hot, "budget_p99_us": 1000})
        emit({**base, "path": "evaluate(validate=True)", **validated})
        emit({**base, "path": "backend.evaluate (rego only)", **rego})
        if cache is not None:
            engine.backend.cache_size = cache
            cached = percentiles(time_calls(lambda d=doc: engine.backend.evaluate(d), n))
            engine.backend.cache_size = 0
            engine.backend.cache_clear()
            emit({**base, "path": "backend.evaluate (decision cache hit)", **cached})
        emit(
            {
                **base,
                "path": "ratio",
                "rego_share_of_hot_median": round(rego["median_us"] / hot["median_us"], 3),
                "validation_overhead_x": round(validated["median_us"] / hot["median_us"], 3),
            }
        )
    _subject_path(engine, n)


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
