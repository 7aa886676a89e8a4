"""Markdown tables for docs/performance.md and the README from the benchmarks' JSON lines.

    python bench/tables.py bench/results/backends.jsonl bench/results/engine.jsonl \
        bench/results/webhook.jsonl

Each file holds the JSON lines one benchmark printed (``make bench-backends > FILE`` ...);
the kind of each record comes from its ``bench`` field, so files can be given in any order.
Prints one table per benchmark found: the published figures are these, unedited.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _ms(us: float | None) -> str:
    return "—" if us is None else f"{us / 1000:.2f}"


def backends(records: list[dict[str, Any]]) -> str:
    cells: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    summary: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for r in records:
        name = r.get("input")
        if name is None:
            continue
        if name not in order:
            order.append(name)
        if r.get("path") == "summary":
            summary[name] = r
        else:
            cells[name][(r["engine"], r["path"])] = r
    rows = [
        "| input (findings) | wasm decision p50 / p99 ms | wasm Rego p50 / p99 ms "
        "| OPA client p50 ms | raw OPA REST p50 ms | rego-cpp p50 ms | REST / wasm (p50) "
        "| identical to OPA |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in order:
        c, s = cells[name], summary.get(name, {})

        def p50(engine: str, path: str, c: dict = c) -> float | None:
            return c.get((engine, path), {}).get("median_us")

        def p99(engine: str, path: str, c: dict = c) -> float | None:
            return c.get((engine, path), {}).get("p99_us")

        rows.append(
            f"| {name} ({s.get('findings', '?')}) "
            f"| {_ms(p50('wasm', 'decision'))} / {_ms(p99('wasm', 'decision'))} "
            f"| {_ms(p50('wasm', 'rego'))} / {_ms(p99('wasm', 'rego'))} "
            f"| {_ms(p50('opa', 'rego'))} | {_ms(p50('opa-rest', 'rego'))} "
            f"| {_ms(p50('rego-cpp', 'rego'))} "
            f"| {s.get('opa_rest_over_wasm_median', '—')}x "
            f"| {'yes' if s.get('identical_to_opa') else 'NO'} |"
        )
    return "\n".join(rows)


def engine(records: list[dict[str, Any]]) -> str:
    by_input: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    order: list[str] = []
    for r in records:
        name, path = r.get("input"), r.get("path")
        if name is None or path is None:
            continue
        if name not in order:
            order.append(name)
        by_input[name][path] = r
    rows = [
        "| input (findings) | decision p50 / p99 ms | Rego alone p50 ms "
        "| Rego per input, 32 a call (mlgate check) p50 ms | host calls per decision "
        "| cache key (orjson + blake2b) p50 us |",
        "|---|---|---|---|---|---|",
    ]
    for name in order:
        p = by_input[name]
        hot = p.get("evaluate(validate=False)")
        if hot is None:
            continue
        batch = next((v for k, v in p.items() if k.startswith("backend.evaluate_batch")), {})
        key = next((v for k, v in p.items() if k.startswith("input_key")), {})
        host = p.get("host builtins", {})
        rows.append(
            f"| {name} ({hot.get('findings', '?')}) "
            f"| {_ms(hot['median_us'])} / {_ms(hot['p99_us'])} "
            f"| {_ms(p.get('backend.evaluate (rego only)', {}).get('median_us'))} "
            f"| {_ms(batch.get('median_us'))} | {host.get('calls_per_decision', '—')} "
            f"| {key.get('median_us', 0):.0f} |"
        )
    return "\n".join(rows)


def webhook(records: list[dict[str, Any]]) -> str:
    rows = [
        "| rate req/s | duration | requests | ok | errors | allowed / denied | achieved req/s "
        "| p50 ms | p99 ms | max ms | server peak RSS MiB | CPU ms per request, server / vegeta |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sizing = None
    for r in records:
        if "sizing_rate_p99_under_100ms" in r:
            sizing = r
            continue
        if "rate" not in r:
            continue
        rows.append(
            f"| {r['rate']} | {r.get('duration_s', '?')} s | {r['requests']} | {r['ok']} "
            f"| {r['errors']} | {r.get('allowed', '?')} / {r.get('denied', '?')} "
            f"| {r.get('achieved_rps', '?')} | {r.get('p50_ms')} | {r.get('p99_ms')} "
            f"| {r.get('max_ms')} | {r.get('server_peak_rss_mb', '?')} "
            f"| {r.get('server_cpu_ms_per_request', '—')} / {_per_request(r)} |"
        )
    if sizing is not None:
        rows.append("")
        rows.append(
            f"Sizing: highest swept rate with p99 under 100 ms and no errors: "
            f"{sizing['sizing_rate_p99_under_100ms']} req/s (swept {sizing['swept']})."
        )
    return "\n".join(rows)


def _per_request(r: dict[str, Any]) -> str:
    cpu = r.get("client_cpu_s")
    return "—" if cpu is None or not r.get("requests") else f"{cpu * 1000 / r['requests']:.3f}"


def webhook_profile(records: list[dict[str, Any]]) -> str:
    stages = [r for r in records if r.get("record") == "stage"]
    summary = next((r for r in records if r.get("record") == "summary"), None)
    rows = [
        "| stage | share of server CPU | CPU ms per request | share of GIL time "
        "| GIL ms per request |",
        "|---|---|---|---|---|",
    ]
    for r in stages:
        rows.append(
            f"| {r['stage']} | {100 * (r['cpu_share'] or 0):.1f} % | {r['cpu_ms_per_request']} "
            f"| {100 * (r['gil_share'] or 0):.1f} % | {r['gil_ms_per_request']} |"
        )
    if summary is not None:
        rows += [
            "",
            f"{summary['rate']} req/s for {summary['duration_s']} s ({summary['ok']} ok, "
            f"{summary['errors']} errors, p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} "
            f"ms); server {summary['server_cpu_ms_per_request']} ms CPU per request, vegeta "
            f"{summary['client_cpu_ms_per_request']} ms; some thread held the GIL "
            f"{100 * summary['gil_busy']:.0f} % of the time ({summary['gil_ms_per_request']} ms "
            f"per request); {summary['server_context_switches_per_request']} context switches "
            f"per request; decision-log commits: {summary.get('audit_commits')} of "
            f"{summary.get('audit_records_per_commit')} records, "
            f"{summary.get('audit_commit_ms_mean')} ms each on average; load average "
            f"{summary['loadavg_before'][0]} at the start ({summary['cpus']} CPUs).",
        ]
    return "\n".join(rows)


RENDERERS = {
    "backends": backends,
    "engine": engine,
    "webhook": webhook,
    "webhook-profile": webhook_profile,
}


def main(argv: list[str]) -> int:
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in argv:
        for line in Path(name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line.startswith("{"):
                record = json.loads(line)
                records[record.get("bench", "?")].append(record)
    for kind, render in RENDERERS.items():
        if records.get(kind):
            print(f"<!-- bench/tables.py: {kind} -->")
            print(render(records[kind]))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
