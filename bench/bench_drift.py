"""Drift benchmark: PSI + KS over many rows and features, mlgate side by side with scipy.

    .venv/bin/python bench/bench_drift.py                 # 1,000,000 rows x 50 features
    .venv/bin/python bench/bench_drift.py --rows 100000 --features 10 --repeats 2

Contenders, on the same float64 data (half of the features shifted slightly):

- ``mlgate.compute_drift``: the shipped implementation (PSI, KS with p-value, JS distance),
  with its default thread pool, and again pinned to one thread;
- ``scipy.ks_2samp+numpy_psi``: the straightforward loop, per feature
  ``scipy.stats.ks_2samp`` plus a numpy PSI (``np.quantile`` edges, ``np.searchsorted``).

Prints one JSON object per line: per contender ``median_s`` (of ``--repeats`` timed runs),
``peak_mib`` (tracemalloc peak of one extra, untimed run, above the input data) and
``ratio_vs_scipy`` (median time / the scipy loop's median time; below 1 is faster); then an
``agreement`` line (largest differences between the two) and the process ``ru_maxrss``.
Benchmarks are not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from mlgate.gates.drift import PSI_EPSILON, compute_drift

BINS = 10


def make_data(rows: int, features: int, seed: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    reference, current = {}, {}
    for i in range(features):
        name = f"f{i}"
        reference[name] = rng.normal(size=rows)
        shift = 0.0 if i % 2 == 0 else 0.002 * (i + 1)
        current[name] = rng.normal(shift, 1.0, size=rows)
    return reference, current


def scipy_loop(reference: dict, current: dict) -> dict[str, tuple[float, float, float]]:
    from scipy.stats import ks_2samp

    out = {}
    q = np.linspace(0, 1, BINS + 1)[1:-1]
    for name, ref in reference.items():
        cur = current[name]
        ks = ks_2samp(ref, cur)
        edges = np.unique(np.quantile(ref, q))
        r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
        c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
        r = np.where(r == 0, PSI_EPSILON * ref.size, r) / ref.size
        c = np.where(c == 0, PSI_EPSILON * cur.size, c) / cur.size
        psi = float(np.sum((c - r) * np.log(c / r)))
        out[name] = (psi, float(ks.statistic), float(ks.pvalue))
    return out


def mlgate_run(workers: int | None) -> Callable[[dict, dict], dict]:
    def run(reference: dict, current: dict) -> dict[str, tuple[float, float, float]]:
        result = compute_drift(reference, current, max_workers=workers)
        return {
            name: (f["psi"], f["ks_statistic"], f["ks_pvalue"])
            for name, f in result["features"].items()
        }

    return run


def measure(fn: Callable, args: tuple, repeats: int) -> tuple[list[float], float, Any]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return times, peak / 2**20, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    reference, current = make_data(args.rows, args.features, args.seed)
    contenders = [
        ("scipy.ks_2samp+numpy_psi", scipy_loop),
        ("mlgate.compute_drift", mlgate_run(None)),
        ("mlgate.compute_drift[1 thread]", mlgate_run(1)),
    ]
    results = {}
    baseline = None
    for name, fn in contenders:
        times, peak, results[name] = measure(fn, (reference, current), args.repeats)
        median = statistics.median(times)
        baseline = baseline or median
        line = {
            "bench": "drift",
            "name": name,
            "rows": args.rows,
            "features": args.features,
            "repeats": args.repeats,
            "median_s": round(median, 4),
            "min_s": round(min(times), 4),
            "peak_mib": round(peak, 1),
            "ratio_vs_scipy": round(median / baseline, 4),
        }
        print(json.dumps(line), flush=True)
    ours, theirs = results["mlgate.compute_drift"], results["scipy.ks_2samp+numpy_psi"]
    diffs = np.array([[abs(a - b) for a, b in zip(ours[k], theirs[k], strict=True)] for k in ours])
    print(
        json.dumps(
            {
                "bench": "drift",
                "name": "agreement",
                "max_abs_diff_psi": float(diffs[:, 0].max()),
                "max_abs_diff_ks_statistic": float(diffs[:, 1].max()),
                "max_abs_diff_ks_pvalue": float(diffs[:, 2].max()),
                "ru_maxrss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
