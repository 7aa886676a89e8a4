"""Start-up of `mlgate check` on one object: import time (python -X importtime), wall and CPU time.

Import time is the sum of the top-level entries of ``-X importtime`` for the whole check
(so imports done lazily inside the command count too); heavy packages that were imported
are listed by name. ``--src DIR`` measures another checkout's ``src`` (for example a
``git archive`` of an older commit) with this interpreter, for a before/after comparison:

  python bench/bench_startup.py --quick
  git archive 46ede41 | tar -x -C /tmp/before && python bench/bench_startup.py --src /tmp/before/src
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, with_bytecode

REPO = Path(__file__).resolve().parents[1]
OBJECT = REPO / "examples" / "k8s" / "credit-scorer-isvc.yaml"
HEAVY = ("sigstore", "model_signing", "numpy", "scipy", "fastapi", "uvicorn", "tuf", "regopy")
HEAVY += ("wasmtime", "opapywasm", "jsonschema", "cryptography", "yaml")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _env(src: Path | None) -> dict[str, str]:
    env = with_bytecode(dict(os.environ))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def check_script(policies: Path | None) -> str:
    argv = ["check", "-o", "json", str(OBJECT)]
    if policies:
        argv += ["--policies", str(policies)]
    return f"import sys\nfrom mlgate.cli.main import main\nsys.exit(main({argv!r}))\n"


def import_profile(src: Path | None, policies: Path | None) -> tuple[float, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", check_script(policies)],
        capture_output=True,
        text=True,
        env=_env(src),
        check=False,
    )
    total_us, top = 0, set()
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        name = m.group(4)
        if len(m.group(3)) == 1:  # a top-level import: its cumulative time covers its children
            total_us += int(m.group(2))
        root = name.split(".")[0]
        if root in HEAVY:
            top.add(root)
    return total_us / 1e6, sorted(top)


def wall_and_cpu(
    src: Path | None, policies: Path | None, runs: int
) -> tuple[list[float], list[float]]:
    """Wall time, and CPU time (user + system) which a busy machine does not inflate."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", check_script(policies)],
            capture_output=True,
            env=_env(src),
            check=False,
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return walls, cpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, help="the src/ directory to measure")
    parser.add_argument("--policies", type=Path, help="policy directory (default: shipped)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    wall_and_cpu(args.src, args.policies, 1)  # uncounted: writes the byte code, fills caches
    import_s, heavy = import_profile(args.src, args.policies)
    walls, cpus = wall_and_cpu(args.src, args.policies, runs)
    emit(
        {
            "bench": "startup",
            "src": str(args.src or REPO / "src"),
            "object": str(OBJECT.relative_to(REPO)),
            "import_s": round(import_s, 4),
            "heavy_imported": heavy,
            "wall_median_s": round(statistics.median(walls), 4),
            "wall_min_s": round(min(walls), 4),
            "cpu_median_s": round(statistics.median(cpus), 4),
            "runs": runs,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
