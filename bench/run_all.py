"""Runs every bench/bench_*.py, one subprocess each, with quick settings.

Convention: a benchmark that accepts ``--quick`` (it appears in its source) gets it, so the
whole suite stays short; the others run with their defaults. Each benchmark's JSON lines go
to stdout unchanged; a summary (one line per benchmark: exit code, seconds) goes to stderr.
Exit code: 0 if every benchmark succeeded, 1 otherwise.

Usage: python bench/run_all.py [--full] [--only NAME] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def discover(only: list[str]) -> list[Path]:
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    return [p for p in found if not only or p.stem in only or p.stem.removeprefix("bench_") in only]


def accepts_quick(path: Path) -> bool:
    return "--quick" in path.read_text(encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="do not pass --quick")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="bench_x or x (repeatable)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    args = parser.parse_args()

    results: list[tuple[str, int, float]] = []
    for path in discover(args.only):
        cmd = [sys.executable, str(path)]
        if not args.full and accepts_quick(path):
            cmd.append("--quick")
        print(f"== {path.name} {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
        start = time.monotonic()
        try:
            code = subprocess.run(cmd, timeout=args.timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"{path.name}: timed out after {args.timeout:.0f}s", file=sys.stderr)
        results.append((path.name, code, time.monotonic() - start))

    print("== summary", file=sys.stderr)
    for name, code, seconds in results:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{name:32} {status:20} {seconds:7.1f}s", file=sys.stderr)
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
