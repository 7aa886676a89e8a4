"""Every Rego engine side by side on the same policies and inputs, in one run.

Engines (all on the shipped policy set; one OPA server, started here, serves both OPA rows):
  * wasm      - the embedded engine: OPA-compiled WebAssembly in-process (opa-py-wasm)
  * opa       - the OPA server through mlgate's OpaBackend (opa-python-client, keep-alive)
  * opa-rest  - the same OPA server over raw HTTP/1.1 (http.client, keep-alive, no client
                library): the floor for any out-of-process OPA
  * rego-cpp  - the former embedded engine (regopy), raw, if installed (before-figure only)
Inputs: the policy-test bases (allowed, and findings-heavy limited/minimal ones), a denied and
an exempted variant, and inputs built by the subject adapters from examples/k8s (KServe,
Deployment, Seldon). Calls are interleaved call by call so machine noise hits every engine
alike. Per input: p50/p99 of the Rego call per engine, of the full decision for wasm and opa,
the ratios against wasm, and whether wasm's findings are identical to OPA's.

Usage: python bench/bench_backends.py [--n 1000] [--quick]
  --quick: 100 samples per measurement (the convention bench/run_all.py relies on).
Output: JSON lines, latencies in microseconds.
"""

from __future__ import annotations

import argparse
import copy
import gc
import http.client
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, percentiles

REPO = Path(__file__).resolve().parents[1]
TARGET_P99_US = 1000.0
TARGET_REST_OVER_WASM = 3.0


def inputs(engine: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, canonical input) covering allowed, denied, exempted and several subject kinds."""
    from mlgate.cli.cmd_check import load_documents
    from mlgate.policytest.cases import Suite
    from mlgate.subjects import RequestInfo, subject_from_object

    suite = Suite(REPO / "policy-tests")
    out = []
    for p in sorted((REPO / "policy-tests" / "bases").glob("*.yaml")):
        out.append((p.stem, suite.base(p.stem, str(p))))
    base = dict(out)["compliant-high-production"]
    denied = copy.deepcopy(base)
    denied["signature"]["present"] = False
    out.append(("denied-unsigned-high-production", denied))
    exempted = copy.deepcopy(base)
    exempted["request"]["namespace"] = "ml-research"
    exempted["context"]["environment"] = "staging"
    exempted["model"]["name"] = "churn-uplift"
    exempted["evidence"].pop("fairness", None)
    out.append(("exempted-fairness-staging", exempted))
    for path in sorted((REPO / "examples" / "k8s").glob("*.yaml")):
        for obj, _ in load_documents(path):
            subject = subject_from_object(obj, RequestInfo(source="bench"), base_dir=path.parent)
            if subject is None:  # an object that carries no model
                continue
            for i, doc in enumerate(engine.build_inputs(subject)):
                out.append((f"k8s:{path.stem}#{i}", doc))
    return out


class RawRest:
    """POST /v1/data/<entrypoint> on one keep-alive connection: what any OPA client pays."""

    def __init__(self, url: str, token: str | None, entrypoint: str) -> None:
        host_port = url.split("://", 1)[1]
        host, _, port = host_port.partition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        self.path = "/v1/data/" + entrypoint + "?strict-builtin-errors=true"
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def evaluate(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.conn.request("POST", self.path, json.dumps({"input": doc}), self.headers)
        response = self.conn.getresponse()
        body = json.loads(response.read())
        if response.status != 200 or "result" not in body:
            raise RuntimeError(f"OPA answered {response.status}: {str(body)[:200]}")
        return body["result"]


class RegoCpp:
    """The former embedded engine, raw regopy (none of the removed shims): timing only."""

    def __init__(self, policy_set: Any) -> None:
        from regopy import Interpreter

        builder = Interpreter()
        builder.add_data(policy_set.data)
        for rel, source in policy_set.modules.items():
            builder.add_module(rel, source)
        self.entrypoint = policy_set.entrypoint
        self.bundle = builder.build(None, [self.entrypoint])  # compiled once, as it was used
        self.interp = Interpreter()

    def evaluate(self, doc: dict[str, Any]) -> Any:
        self.interp.set_input(doc)
        return self.interp.query_bundle_entrypoint(self.bundle, self.entrypoint)


def interleaved(calls: dict[Any, Any], n: int, warmup: int = 20) -> dict[Any, list[float]]:
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    samples: dict[Any, list[float]] = {name: [] for name in calls}
    clock = time.perf_counter
    for _ in range(n):
        for name, fn in calls.items():
            start = clock()
            fn()
            samples[name].append(clock() - start)
    return samples


def canonical(result: dict[str, Any]) -> str:
    findings = sorted(json.dumps(f, sort_keys=True) for f in result["findings"])
    return json.dumps([findings, result.get("risk_tier"), result.get("environment")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per measurement")
    parser.add_argument("--quick", action="store_true", help="100 samples per measurement")
    parser.add_argument("--no-rego-cpp", action="store_true", help="skip the regopy row")
    args = parser.parse_args()
    n = 100 if args.quick else args.n

    from mlgate.engine import Engine
    from mlgate.policyset import load_policy_set

    policy_set = load_policy_set(REPO / "policies")
    wasm = Engine(policy_set, "wasm", pool_size=1)
    opa = Engine(policy_set, "opa")
    process = opa.backend.process
    rest = RawRest(opa.backend.url, process.token if process else None, policy_set.entrypoint)
    regocpp = None
    if not args.no_rego_cpp:
        try:
            regocpp = RegoCpp(policy_set)
        except ImportError:
            emit({"bench": "backends", "note": "regopy not installed: no rego-cpp row"})
        except Exception as err:  # rego-cpp left the decision path; it rejects lib.format
            first = str(err).strip().splitlines()[-1:] or ["?"]
            emit({"bench": "backends", "note": f"rego-cpp cannot load the policies: {first[0]}"})
    gc.freeze()  # as `mlgate serve` does after start-up: collections skip start-up's objects
    try:
        for name, doc in inputs(wasm):
            doc = wasm.with_card_evidence(doc)
            identical = canonical(wasm.backend.evaluate(doc)) == canonical(rest.evaluate(doc))
            findings = len(wasm.backend.evaluate(doc)["findings"])
            decision = wasm.evaluate(doc, validate=False)
            calls: dict[tuple[str, str], Any] = {
                ("wasm", "decision"): lambda d=doc: wasm.evaluate(d, validate=False),
                ("wasm", "rego"): lambda d=doc: wasm.backend.evaluate(d),
                ("opa", "decision"): lambda d=doc: opa.evaluate(d, validate=False),
                ("opa", "rego"): lambda d=doc: opa.backend.evaluate(d),
                ("opa-rest", "rego"): lambda d=doc: rest.evaluate(d),
            }
            if regocpp is not None:
                calls[("rego-cpp", "rego")] = lambda d=doc: regocpp.evaluate(d)
            stats = {k: percentiles(v) for k, v in interleaved(calls, n).items()}
            for (engine, path), st in stats.items():
                emit(
                    {
                        "bench": "backends",
                        "input": name,
                        "findings": findings,
                        "engine": engine,
                        "path": path,
                        **{k: round(v, 1) for k, v in st.items()},
                    }
                )
            w = stats[("wasm", "rego")]
            summary = {
                "bench": "backends",
                "input": name,
                "findings": findings,
                "path": "summary",
                "allowed": decision.allowed,
                "exemptions": len(decision.exemptions),
                "identical_to_opa": identical,
                "wasm_decision_p99_us": round(stats[("wasm", "decision")]["p99_us"], 1),
                "wasm_p99_target_met": stats[("wasm", "decision")]["p99_us"] <= TARGET_P99_US,
            }
            for (engine, path), st in stats.items():
                if path == "rego" and engine != "wasm":
                    key = engine.replace("-", "_")
                    summary[f"{key}_over_wasm_median"] = round(st["median_us"] / w["median_us"], 2)
                    summary[f"{key}_over_wasm_p99"] = round(st["p99_us"] / w["p99_us"], 2)
            summary["rest_3x_target_met"] = (
                summary["opa_rest_over_wasm_median"] >= TARGET_REST_OVER_WASM
            )
            emit(summary)
    finally:
        wasm.close()
        opa.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
