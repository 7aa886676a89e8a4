"""OPA's YAML conformance cases through the Wasm path: OPA compiles, opa-py-wasm evaluates.

    python -m tools.conformance.wasm --out docs/conformance-wasm.json   (make conformance)

Each case's query becomes a rule, ``result contains {<query variables>} if { <query> }``, so the
result set is the set of binding rows OPA's harness compares. Many cases are compiled into one
module (``opa build -t wasm``, one entrypoint per case): each case's packages and ``data``
references are moved under ``data.c<i>`` so cases cannot see each other, and the cases' data
documents are set side by side. A batch that does not compile is split in halves until the
failing case is alone. Evaluation goes through mlgate's own path: the memory workaround and
the OPA-exact host builtins (``mlgate.rego.wasm``).

Outcomes as in ``tools.conformance.runner``, plus what the Wasm path cannot take:
- passed: the same rows as OPA wants, or an error where OPA wants one (error codes are not
  compared: a Wasm trap has none);
- failed: other rows, an error where OPA has rows, or rows where OPA has an error. OPA's Wasm
  target has no strict builtin errors, so ``strict_error`` cases whose builtin error becomes
  undefined land here;
- unsupported: the case needs a host builtin mlgate does not implement (refused at build time
  for policies), or an ``input_term`` that is not JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError
from mlgate.policyset.builtins import KEYWORDS
from mlgate.rego.hostbuiltins import HOST_BUILTINS
from tools.conformance.runner import (
    STATUSES,
    Case,
    Outcome,
    called_builtins,
    default_cases_dir,
    judge_rows,
    load_cases,
)

BATCH = 48
_DATA_REF = re.compile(r"(?<![\w.])data\b(?!\s*:)")
_PACKAGE = re.compile(r"^(\s*package\s+)([\w.]+)", re.MULTILINE)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`')
_IDENT = re.compile(r"(?<![\w.\"])([a-z_][A-Za-z0-9_]*)\b(?!\s*\()")
# Rego keywords (one list, shared with the policy loader) plus names no case may rebind.
_KEYWORDS = KEYWORDS | {"_", "data", "input"}


def query_variables(query: str) -> list[str]:
    """The variables a query binds (what OPA reports in each result row)."""
    code = _STRING.sub('""', query)
    names = []
    for m in _IDENT.finditer(code):
        name = m.group(1)
        if name in _KEYWORDS or name.startswith("__") or name in names:
            continue
        names.append(name)
    return names


def _scoped(source: str, prefix: str) -> str:
    pieces = []
    last = 0
    for m in _STRING.finditer(source):  # leave string literals alone
        pieces.append(_DATA_REF.sub(f"data.{prefix}", source[last : m.start()]))
        pieces.append(m.group(0))
        last = m.end()
    pieces.append(_DATA_REF.sub(f"data.{prefix}", source[last:]))
    text = "".join(pieces).replace(f"data.{prefix}.{prefix}", f"data.{prefix}")
    return _PACKAGE.sub(lambda m: f"{m.group(1)}{prefix}.{m.group(2)}", text)


def case_modules(case: Case, prefix: str) -> tuple[dict[str, str], str]:
    """The case's modules under ``prefix`` plus its query rule; and the entrypoint."""
    modules = {f"{prefix}/m{j}.rego": _scoped(m, prefix) for j, m in enumerate(case.modules)}
    row = ", ".join(f'"{v}": {v}' for v in query_variables(case.query))
    body = _scoped(case.query, prefix)
    modules[f"{prefix}/q.rego"] = (
        f"package {prefix}.mlgate_q\n\nresult contains {{{row}}} if {{\n\t{body}\n}}\n"
    )
    return modules, f"{prefix}/mlgate_q/result"


def _input(case: Case) -> tuple[bool, Any]:
    if case.input_term is not None:
        try:
            return True, json.loads(case.input_term)
        except ValueError:
            return False, None
    return True, case.input if case.has_input else None


def _judge(case: Case, rows: list[Any] | None, error: str) -> tuple[str, str]:
    wants_error = case.want_error_code is not None or case.want_error is not None
    if wants_error:
        if rows is None:
            return "passed", ""
        return "failed", f"expected error {case.want_error_code!r}, got rows {rows!s:.200}"
    return judge_rows(case, rows, error)


def _run_batch(batch: list[tuple[int, Case]], opa: str | None) -> dict[int, tuple[str, str]]:
    from mlgate.rego.wasm import new_policy
    from mlgate.rego.wasm_build import compile_modules

    modules: dict[str, str] = {}
    entries: dict[int, str] = {}
    data: dict[str, Any] = {}
    for i, case in batch:
        mods, entry = case_modules(case, f"c{i}")
        modules.update(mods)
        entries[i] = entry
        data[f"c{i}"] = case.data or {}
    try:
        wasm = compile_modules(modules, list(entries.values()), opa_binary=opa)
    except MlgateError as err:
        if len(batch) == 1:
            return {batch[0][0]: _judge(batch[0][1], None, str(err))}
        half = len(batch) // 2
        return {**_run_batch(batch[:half], opa), **_run_batch(batch[half:], opa)}
    policy = new_policy(wasm, pool_size=1, eval_timeout_s=10.0)
    try:
        for name in policy.builtins:
            if name in HOST_BUILTINS:
                policy.register_builtin(name, HOST_BUILTINS[name])
        policy.set_data(data)
        out = {}
        for i, case in batch:
            ok, value = _input(case)
            if not ok:
                out[i] = ("unsupported", "input_term is not JSON")
                continue
            try:
                rows = policy.evaluate(value, entries[i])
                out[i] = _judge(case, rows if isinstance(rows, list) else [], "")
            except Exception as err:  # a trap or a builtin error: the case's answer
                out[i] = _judge(case, None, f"{type(err).__name__}: {err}")
        return out
    finally:
        policy.close()


def run_cases(cases: Sequence[Case], *, jobs: int = 2, opa: str | None = None) -> list[Outcome]:
    outcomes: dict[int, tuple[str, str]] = {}
    runnable: list[tuple[int, Case]] = []
    host_needed = _host_only_builtins()
    for i, case in enumerate(cases):
        missing = sorted(
            (called_builtins([*case.modules, case.query]) & host_needed) - set(HOST_BUILTINS)
        )
        if missing:
            outcomes[i] = ("unsupported", "host builtin mlgate refuses: " + ", ".join(missing))
        else:
            runnable.append((i, case))
    batches = [runnable[k : k + BATCH] for k in range(0, len(runnable), BATCH)]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in pool.map(lambda b: _run_batch(b, opa), batches):
            outcomes.update(result)
    return [
        Outcome(
            c.category,
            c.note,
            outcomes[i][0],
            outcomes[i][1],
            sorted(called_builtins([*c.modules, c.query])),
            0.0,
        )
        for i, c in enumerate(cases)
    ]


# Builtins that OPA v1.22's Wasm target leaves to the host (the `builtins` export of a module
# that calls them), found by compiling every builtin once: `python -m
# tools.conformance.wasm --probe-host` prints the current list.
def _host_only_builtins() -> set[str]:
    path = Path(__file__).with_name("wasm_host_builtins.json")
    try:
        return set(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return set()


def probe_host_builtins(opa: str | None = None) -> list[str]:
    """Compiles one call of every OPA builtin to Wasm; the module's host imports are the list."""
    import subprocess

    from mlgate.rego.opaprocess import find_opa_binary
    from mlgate.rego.wasm import new_policy
    from mlgate.rego.wasm_build import compile_modules

    binary = find_opa_binary(opa) or "opa"
    caps = json.loads(
        subprocess.run([binary, "capabilities", "--current"], capture_output=True, text=True).stdout
    )
    calls = {}
    for b in caps["builtins"]:
        if (
            b.get("infix")
            or b.get("deprecated")
            or ("." not in b["name"] and not b["name"].isidentifier())
        ):
            continue
        args = ", ".join(f"input.a{k}" for k in range(len(b["decl"].get("args") or [])))
        calls[b["name"]] = f"{b['name']}({args})"
    while True:
        rules = "\n".join(f"r{k} := {c}" for k, c in enumerate(calls.values()))
        entry = "\n".join(f"out contains r{k} if r{k}" for k in range(len(calls)))
        source = f"package probe\n\n{rules}\n\n{entry}\n"
        try:
            wasm = compile_modules({"probe.rego": source}, ["probe/out"], opa_binary=opa)
            break
        except MlgateError as err:
            bad = {int(n) for n in re.findall(r"probe.rego:(\d+)", str(err))}
            if not bad:
                raise
            names = list(calls)
            calls = {n: c for k, (n, c) in enumerate(calls.items()) if k + 3 not in bad}
            if len(calls) == len(names):
                raise
    policy = new_policy(wasm, pool_size=1, eval_timeout_s=10.0)
    try:
        return sorted(policy.builtins)
    finally:
        policy.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.conformance.wasm")
    parser.add_argument("--cases", type=Path, default=None)
    parser.add_argument("--category", action="append", default=[])
    parser.add_argument("--json", type=Path, default=None, help="one JSON line per case")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--opa", default=None)
    parser.add_argument("--probe-host", action="store_true", help="print the host builtins")
    args = parser.parse_args(argv)
    if args.probe_host:
        print(json.dumps(probe_host_builtins(args.opa), indent=1))
        return 0
    root = args.cases or default_cases_dir()
    if root is None or not root.is_dir():
        print("OPA conformance cases not found: run `make opa`", file=sys.stderr)
        return 2
    cases = load_cases(root, args.category)
    start = time.monotonic()
    outcomes = run_cases(cases, jobs=args.jobs, opa=args.opa)
    totals = Counter(o.status for o in outcomes)
    print(
        f"wasm: {len(outcomes)} cases in {time.monotonic() - start:.1f}s: "
        + ", ".join(f"{totals[s]} {s}" for s in STATUSES)
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            for o in outcomes:
                fh.write(json.dumps(asdict(o)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
