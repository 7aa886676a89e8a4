"""Embedded rego-cpp vs the OPA server, side by side on the same policies and inputs.

Both engines load the shipped policy set; the inputs are the policy-tests bases (realistic,
complete canonical inputs). For each input and backend, in one run and interleaved so that
machine noise hits both alike:
  * engine.evaluate(doc, validate=False) - a full decision, as the webhook makes it
  * backend.evaluate(doc)                - the Rego engine alone (for OPA: HTTP + JSON + eval)
and the OPA/embedded ratio of median and p99. The decisions are checked to agree first.
The embedded backend's decision cache is off for these (cold: every call evaluates the Rego);
one more line per input, "backend.evaluate (cached)", shows the cache hit cost separately.

Usage: python bench/bench_backends.py [--n 1000] [--quick]
  --quick: 100 samples per measurement (the convention bench/run_all.py relies on).
Output: JSON lines, latencies in microseconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, percentiles

REPO = Path(__file__).resolve().parents[1]


def bases() -> list[tuple[str, dict[str, Any]]]:
    from mlgate.policytest import Suite

    suite = Suite(REPO / "policy-tests")
    paths = sorted((REPO / "policy-tests" / "bases").glob("*.yaml"))
    return [(p.stem, suite.base(p.stem, str(p))) for p in paths]


def interleaved(calls: dict[str, Any], n: int, warmup: int = 20) -> dict[str, list[float]]:
    """Times each callable n times, alternating between them call by call."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    clock = time.perf_counter
    for _ in range(n):
        for name, fn in calls.items():
            start = clock()
            fn()
            samples[name].append(clock() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per measurement")
    parser.add_argument("--quick", action="store_true", help="100 samples per measurement")
    args = parser.parse_args()
    n = 100 if args.quick else args.n

    from mlgate.engine import Engine
    from mlgate.policyset import load_policy_set

    policy_set = load_policy_set(REPO / "policies")
    engines = {"embedded": Engine(policy_set, "embedded"), "opa": Engine(policy_set, "opa")}
    embedded = engines["embedded"].backend
    embedded.cache_size = 0  # cold numbers: the decision cache is measured on its own below
    try:
        for name, doc in bases():
            doc = engines["embedded"].with_card_evidence(doc)
            decisions = {b: e.evaluate(doc, validate=False) for b, e in engines.items()}
            agree = (
                len(
                    {
                        (d.allowed, tuple(sorted(v.control for v in d.violations)))
                        for d in decisions.values()
                    }
                )
                == 1
            )
            calls = {}
            for backend, engine in engines.items():
                calls[(backend, "evaluate(validate=False)")] = lambda e=engine, d=doc: e.evaluate(
                    d, validate=False
                )
                calls[(backend, "backend.evaluate (rego only)")] = lambda e=engine, d=doc: (
                    e.backend.evaluate(d)
                )
            samples = interleaved(calls, n)
            stats = {key: percentiles(values) for key, values in samples.items()}
            for (backend, path), st in stats.items():
                emit(
                    {
                        "bench": "backends",
                        "input": name,
                        "backend": backend,
                        "path": path,
                        "agree": agree,
                        **st,
                    }
                )
            embedded.cache_size = 256
            embedded.evaluate(doc)
            cached = percentiles(interleaved({"c": lambda d=doc: embedded.evaluate(d)}, n)["c"])
            embedded.cache_size = 0
            embedded.cache_clear()
            emit(
                {
                    "bench": "backends",
                    "input": name,
                    "backend": "embedded",
                    "path": "backend.evaluate (cached)",
                    **cached,
                }
            )
            for path in ("evaluate(validate=False)", "backend.evaluate (rego only)"):
                e, o = stats[("embedded", path)], stats[("opa", path)]
                emit(
                    {
                        "bench": "backends",
                        "input": name,
                        "path": path,
                        "ratio_opa_over_embedded_median": round(o["median_us"] / e["median_us"], 3),
                        "ratio_opa_over_embedded_p99": round(o["p99_us"] / e["p99_us"], 3),
                    }
                )
    finally:
        for engine in engines.values():
            engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
