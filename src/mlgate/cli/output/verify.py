"""``mlgate verify`` output: one model directory's verification, as a line or as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlgate.supplychain.modeldir import DirVerification


def write(result: DirVerification, model_dir: Path, *, as_json: bool) -> None:
    """JSON (the facts too) or ``OK: ...`` on stdout; a failure's line goes to stderr."""
    if as_json:
        print(json.dumps({"ok": result.ok, "message": result.message, **result.facts}, indent=2))
    elif result.ok:
        print(f"OK: {result.message}")
    else:
        print(f"FAIL: {model_dir}: {result.message}", file=sys.stderr)
