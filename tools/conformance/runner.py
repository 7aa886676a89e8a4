"""OPA's own YAML conformance cases, on the Wasm engine and, for comparison, on rego-cpp.

    python -m tools.conformance.runner --out docs/conformance.md      (what `make conformance` runs)

The cases ship with the OPA source in the Go module cache
(``.cache/go/mod/github.com/open-policy-agent/opa@<v>/v1/test/cases/testdata/v1/<category>/``).
Each case has modules, data, input, a query and the expected bindings or error. The runner
mirrors OPA's own harness (v1/topdown/exported_test.go): the result set is compared as a set of
binding objects; ``sort_bindings`` compares binding arrays as multisets; strict builtin errors
are on only for ``strict_error`` cases; an expected error must come with the expected code
(messages are not compared: the two engines word them differently).

Outcomes per case: passed, failed, unsupported (a builtin rego-cpp does not implement, or
rego-cpp saying "unsupported"), timeout, crashed. rego-cpp can hang or crash the process on
some inputs, so cases run in worker subprocesses with a per-case timeout; a dead worker is
replaced and the runner carries on.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import selectors
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlgate.rego.opaprocess import TOOL_CACHE

REPO_ROOT = Path(__file__).resolve().parents[2]  # tools/conformance/runner.py
MOD_CACHE = TOOL_CACHE / "go" / "mod" / "github.com" / "open-policy-agent"
STATUSES = ("passed", "failed", "unsupported", "timeout", "crashed")
_MISSING = object()


def opa_module_dir(version: str | None = None) -> Path | None:
    """The OPA source in the Go module cache: the Makefile's pinned version, else the newest."""
    version = version or _makefile_opa_version()
    if version and (MOD_CACHE / f"opa@{version}").is_dir():
        return MOD_CACHE / f"opa@{version}"
    found = sorted(MOD_CACHE.glob("opa@v*"))
    return found[-1] if found else None


def _makefile_opa_version() -> str | None:
    try:
        text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"^OPA_VERSION\s*:?=\s*(\S+)", text, re.MULTILINE)
    return m.group(1) if m else None


def default_cases_dir() -> Path | None:
    module = opa_module_dir()
    path = module / "v1" / "test" / "cases" / "testdata" / "v1" if module else None
    return path if path and path.is_dir() else None


@functools.cache
def opa_builtin_names() -> frozenset[str]:
    """Every builtin OPA knows (its capabilities file), to tell builtins from user functions."""
    module = opa_module_dir()
    if module is None:
        return frozenset()
    caps = sorted((module / "capabilities").glob("v*.json"))
    own = module / "capabilities" / f"{module.name.split('@', 1)[1]}.json"
    path = own if own.exists() else (caps[-1] if caps else None)
    if path is None:
        return frozenset()
    return frozenset(b["name"] for b in json.loads(path.read_text(encoding="utf-8"))["builtins"])


_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\(")
_STRINGS = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`')
_COMMENT = re.compile(r"#[^\n]*")


def called_builtins(sources: Iterable[str]) -> set[str]:
    """Names of OPA builtins called in Rego ``sources`` (a lexical scan, strings removed)."""
    known = opa_builtin_names()
    names: set[str] = set()
    for source in sources:
        code = _COMMENT.sub("", _STRINGS.sub('""', source))
        names.update(m.group(1) for m in _CALL.finditer(code))
    return {n for n in names if n in known}


# -- cases ------------------------------------------------------------------------------


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """YAML 1.2 scalars, as OPA's loader (go-yaml v3) reads them: ``on``/``off``/``yes``/``no``
    stay strings (PyYAML's YAML 1.1 turns them into booleans, which silently changes data
    keys such as ``on:``) and timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    k: [
        (tag, rx)
        for tag, rx in v
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class Case:
    category: str
    file: str
    note: str
    query: str
    modules: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None
    input: Any = None
    has_input: bool = False
    input_term: str | None = None
    want_result: list[dict[str, Any]] | None = None
    want_error_code: str | None = None
    want_error: str | None = None
    sort_bindings: bool = False
    ignore_generated_vars: bool = False
    strict_error: bool = False
    env: dict[str, str] = field(default_factory=dict)


def load_cases(root: Path, categories: Sequence[str] = ()) -> list[Case]:
    cases: list[Case] = []
    for path in sorted(root.rglob("*.yaml")):
        category = path.relative_to(root).parts[0]
        if categories and category not in categories:
            continue
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        for raw in doc.get("cases") or []:
            cases.append(
                Case(
                    category=category,
                    file=str(path.relative_to(root)),
                    note=str(raw.get("note", "")),
                    query=str(raw.get("query", "")),
                    modules=[str(m) for m in raw.get("modules") or []],
                    data=raw.get("data"),
                    input=raw.get("input"),
                    has_input="input" in raw,
                    input_term=raw.get("input_term"),
                    want_result=raw.get("want_result"),
                    want_error_code=raw.get("want_error_code"),
                    want_error=raw.get("want_error"),
                    sort_bindings=bool(raw.get("sort_bindings")),
                    ignore_generated_vars=bool(raw.get("ignore_generated_vars")),
                    strict_error=bool(raw.get("strict_error")),
                    env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
                )
            )
    return cases


# -- one case on rego-cpp (runs inside a worker) -------------------------------------------


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


def _run_query(case: Case) -> tuple[bool, Any, str]:
    """(ok, rows, error text). Talks to regopy's C layer directly: its Output wrapper raises
    JSONDecodeError on some results (an error rendered as an s-expression with ok=True)."""
    from regopy import Interpreter
    from regopy.output import Output
    from regopy.rego_shared import rego_free_output, rego_output_ok, rego_output_string, rego_query

    interp = Interpreter()
    interp.strict_built_in_errors = case.strict_error
    try:
        if case.data is not None:
            interp.add_data(case.data)
        for i, module in enumerate(case.modules):
            interp.add_module(f"test-{i}.rego", module)
        if case.input_term is not None:
            interp.set_input_term(case.input_term)
        elif case.has_input:
            interp.set_input(case.input)
    except Exception as err:  # RegoError: a parse or compile error
        return False, None, " ".join(str(err).split())[:400]
    impl = rego_query(interp._impl, case.query)
    if not rego_output_ok(impl):
        output = Output(impl)  # owns and frees impl
        text = _error_text(output)
        del output
        return False, None, text
    text = rego_output_string(impl)
    rego_free_output(impl)  # the text is all we need
    if text.startswith("(error"):
        msgs = re.findall(r"errormsg \d+:([^\n)]*)", text)
        return False, None, "; ".join(msgs) or text[:300]
    if text.strip() == "undefined":
        return True, [], ""
    try:
        parsed = json.loads(text)
    except ValueError as err:  # the embedded backend turns this into a fail-closed denial
        return False, None, f"rego-cpp produced invalid JSON ({err}): {text[:120]}"
    rows = parsed if isinstance(parsed, list) else [parsed]
    return True, [r.get("bindings", {}) for r in rows], ""


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in value.items()}
    return value


_RANK = {type(None): 0, bool: 1, int: 2, float: 2, str: 3, list: 4, dict: 5}


def _sort_key(value: Any) -> tuple[int, str]:
    return (_RANK.get(type(value), 9), json.dumps(value, sort_keys=True))


def _canon_rows(rows: Iterable[dict[str, Any]], case: Case) -> set[str]:
    out: set[str] = set()
    for row in rows:
        obj = {}
        for name, value in row.items():
            if case.ignore_generated_vars and name.startswith("__localq"):
                continue
            value = _norm(value)
            if case.sort_bindings and isinstance(value, list):
                value = sorted(value, key=_sort_key)
            obj[name] = value
        out.add(json.dumps(obj, sort_keys=True))
    return out


# Syntax newer than rego-cpp: OPA's experimental `and`/`or` keywords and the rego.v2 import.
_EXPERIMENTAL = re.compile(
    r"^\s*import\s+(?:future\.keywords(?:\.and|\.or)?|rego\.v2)\s*$", re.MULTILINE
)


def judge(case: Case) -> tuple[str, str]:
    """(status, detail) of one case on rego-cpp."""
    missing = sorted(b for b in called_builtins([*case.modules, case.query]) if not _is_builtin(b))
    if missing:
        return "unsupported", "builtin not in rego-cpp: " + ", ".join(missing)
    ok, rows, error = _run_query(case)
    if not ok and _EXPERIMENTAL.search("\n".join(case.modules)):
        return (
            "unsupported",
            "experimental syntax (and/or keywords, rego.v2) rego-cpp lacks: " + error[:150],
        )
    if not ok and re.search(r"unsupported|not supported|not implemented", error, re.IGNORECASE):
        return "unsupported", error
    if not ok and "Function not found" in error:
        return "unsupported", error
    wants_error = case.want_error_code is not None or case.want_error is not None
    if wants_error:
        if ok:
            got = sorted(_canon_rows(rows, case))
            return (
                "failed",
                f"expected error {case.want_error_code or case.want_error!r}, got {got!s:.200}",
            )
        if case.want_error_code and case.want_error_code not in error:
            return "failed", f"expected {case.want_error_code}, got error: {error[:200]}"
        return "passed", ""
    return judge_rows(case, rows if ok else None, error)


def judge_rows(case: Case, rows: list[Any] | None, error: str) -> tuple[str, str]:
    """The verdict on a case that wants rows: ``rows`` None means the evaluation failed with
    ``error``. Shared by the OPA-compatible and the WebAssembly runners."""
    if rows is None:
        return "failed", f"unexpected error: {error[:300]}"
    if case.want_result is None:
        return "failed", "case has no want_result/want_error"
    want = _canon_rows(case.want_result, case)
    got = _canon_rows(rows, case)
    if want == got:
        return "passed", ""
    return "failed", f"want {sorted(want)!s:.200} got {sorted(got)!s:.200}"


@functools.cache
def _builtin_checker() -> Any:
    from regopy import Interpreter

    return Interpreter()


def _is_builtin(name: str) -> bool:
    return bool(_builtin_checker().is_builtin(name))


def _worker_main() -> None:
    """JSON lines in (cases), JSON lines out ([status, detail])."""
    # rego-cpp prints diagnostics on fd 1: answer on a private copy, send fd 1 to /dev/null.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = sys.stderr
    # Pay the start-up (interpreter, regopy's native library) before the first case, and say
    # so: a case's timeout then measures the case, not how loaded the machine is.
    _builtin_checker()
    answers.write(READY + "\n")
    answers.flush()
    for line in sys.stdin:
        raw = json.loads(line)
        case = Case(**raw)
        saved = {k: os.environ.get(k) for k in case.env}
        os.environ.update(case.env)
        try:
            status, detail = judge(case)
        except Exception as err:  # a harness problem on one case must not stop the run
            status, detail = "failed", f"runner error: {type(err).__name__}: {err}"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        answers.write(json.dumps([status, " ".join(detail.split())]) + "\n")
        answers.flush()


# -- runner (parent) -------------------------------------------------------------------


@dataclass
class Outcome:
    category: str
    note: str
    status: str
    detail: str
    builtins: list[str]
    seconds: float


READY = "ready"
STARTUP_TIMEOUT = 120.0


class _Worker:
    def __init__(self) -> None:
        self._ready = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.conformance.runner", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)

    def wait_ready(self) -> str | None:
        """None once the worker has started, else why it did not (start-up has its own,
        generous deadline: it is not part of any case's time)."""
        assert self.proc.stdout is not None
        if self._ready:
            return None
        if not self._sel.select(STARTUP_TIMEOUT):
            self.kill()
            return f"worker did not start within {STARTUP_TIMEOUT:g}s"
        if self.proc.stdout.readline().strip() != READY:
            return f"worker failed to start ({self._exit()})"
        self._ready = True
        return None

    def run(self, case: Case, timeout: float) -> tuple[str, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        problem = self.wait_ready()
        if problem is not None:
            return "crashed", problem
        try:
            self.proc.stdin.write(json.dumps(asdict(case)) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return "crashed", f"worker died before the case ({self._exit()})"
        if not self._sel.select(timeout):
            self.kill()
            return "timeout", f"no answer within {timeout:g}s"
        line = self.proc.stdout.readline()
        if not line:
            return "crashed", f"worker died ({self._exit()})"
        status, detail = json.loads(line)
        return status, detail

    def _exit(self) -> str:
        code = self.proc.wait(timeout=5)
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        self._sel.close()


def run_cases(cases: Sequence[Case], *, jobs: int = 2, timeout: float = 10.0) -> list[Outcome]:
    """Runs every case in worker subprocesses; never raises because a case hung or crashed."""
    local = threading.local()
    workers: list[_Worker] = []
    lock = threading.Lock()

    def one(case: Case) -> Outcome:
        worker: _Worker | None = getattr(local, "worker", None)
        if worker is None or not worker.alive:
            worker = _Worker()
            local.worker = worker
            with lock:
                workers.append(worker)
        problem = worker.wait_ready()  # start-up is not the case's time
        start = time.monotonic()
        status, detail = ("crashed", problem) if problem else worker.run(case, timeout)
        return Outcome(
            case.category,
            case.note,
            status,
            detail,
            sorted(called_builtins([*case.modules, case.query])),
            round(time.monotonic() - start, 4),
        )

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(one, cases))
    finally:
        for worker in workers:
            worker.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.conformance.runner", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cases",
        type=Path,
        default=None,
        help="testdata/v1 directory (default: from the Go module cache)",
    )
    parser.add_argument(
        "--category", action="append", default=[], help="only this category (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--json", type=Path, default=None, help="write one JSON line per case here")
    parser.add_argument("--policies", type=Path, default=REPO_ROOT / "policies")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--no-wasm", action="store_true", help="rego-cpp only")
    parser.add_argument("--opa", default=None, help="OPA binary (compiles the Wasm cases)")
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main()
        return 0
    root = args.cases or default_cases_dir()
    if root is None or not root.is_dir():
        print(
            "OPA conformance cases not found: run `make opa` (it fills .cache/go/mod)",
            file=sys.stderr,
        )
        return 2
    cases = load_cases(root, args.category)
    start = time.monotonic()
    outcomes = run_cases(cases, jobs=args.jobs, timeout=args.timeout)
    elapsed = time.monotonic() - start
    totals = Counter(o.status for o in outcomes)
    print(
        f"{len(outcomes)} cases in {elapsed:.1f}s: "
        + ", ".join(f"{totals[s]} {s}" for s in STATUSES)
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            for o in outcomes:
                fh.write(json.dumps(asdict(o)) + "\n")
    wasm = None
    if not args.no_wasm:
        from tools.conformance import wasm as conformance_wasm

        start = time.monotonic()
        wasm = conformance_wasm.run_cases(cases, jobs=args.jobs, opa=args.opa)
        totals = Counter(o.status for o in wasm)
        print(
            f"wasm: {len(wasm)} cases in {time.monotonic() - start:.1f}s: "
            + ", ".join(f"{totals[s]} {s}" for s in STATUSES)
        )
    if args.out:
        from importlib.metadata import version

        from tools.conformance.report import policy_builtins, render

        module = opa_module_dir()
        meta = {
            "opa": module.name.split("@", 1)[1] if module else "?",
            "regopy": version("regopy"),
            "timeout": f"{args.timeout:g}",
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            render(outcomes, used=policy_builtins(args.policies), meta=meta, wasm=wasm),
            encoding="utf-8",
        )
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
