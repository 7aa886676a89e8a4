"""Refresh the Sigstore trust roots mlgate ships (``src/mlgate/supplychain/roots/``).

    python -m tools.sigstore_roots                 # from the installed sigstore package (offline)
    python -m tools.sigstore_roots --source tuf    # from Sigstore's TUF repositories (network)
    python -m tools.sigstore_roots --check         # exit 1 if the files differ from PROVENANCE

``make sigstore-roots`` runs the first form: after ``pip install -U sigstore`` it picks up the
roots that sigstore release ships (they are TUF-verified at sigstore's release time). ``tuf``
fetches the current ones through TUF (root rotation, signatures and expiry checked by
sigstore's TUF client), for a key rotation between sigstore releases. Either way
``roots/PROVENANCE.json`` records the source, the sigstore version and each file's sha256;
review the diff like any change of trust.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from mlgate._internal.sigstore import TUF_URLS, bundled_trusted_root, tuf_trusted_root
from mlgate.supplychain.sigstore_roots import BUILTIN_ROOTS

ROOTS = Path(__file__).resolve().parents[1] / "src" / "mlgate" / "supplychain" / "roots"


def provenance(source: str, files: dict[str, bytes]) -> dict[str, object]:
    return {
        "source": source,
        "sigstore_version": version("sigstore"),
        "refreshed": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "refresh_command": "make sigstore-roots (python -m tools.sigstore_roots)",
        "roots": {
            name: {
                "tuf_repository": TUF_URLS[name],
                "file": f"{name}/trusted_root.json",
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for name, data in files.items()
        },
    }


def check(roots: Path) -> list[str]:
    recorded = json.loads((roots / "PROVENANCE.json").read_text())["roots"]
    problems = []
    for entry in recorded.values():
        actual = hashlib.sha256((roots / entry["file"]).read_bytes()).hexdigest()
        if actual != entry["sha256"]:
            problems.append(f"{entry['file']}: sha256 {actual}, PROVENANCE says {entry['sha256']}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.sigstore_roots")
    parser.add_argument("--source", choices=("package", "tuf"), default="package")
    parser.add_argument("--check", action="store_true", help="verify the files against PROVENANCE")
    parser.add_argument("--roots", type=Path, default=ROOTS)
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.roots)
        print("\n".join(problems) or "sigstore roots match PROVENANCE.json")
        return 1 if problems else 0
    fetch = tuf_trusted_root if args.source == "tuf" else bundled_trusted_root
    files = {name: fetch(name) for name in BUILTIN_ROOTS}
    for name, data in files.items():
        json.loads(data)  # refuse to write something that is not JSON
        target = args.roots / name / "trusted_root.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    what = "installed sigstore package" if args.source == "package" else "TUF"
    record = provenance(f"{what} ({args.source})", files)
    (args.roots / "PROVENANCE.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {len(files)} trusted roots from the {what} to {args.roots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
