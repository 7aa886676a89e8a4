"""``mlgate digest DIR``: the model's root digest, as its model-signing signature names it."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlgate.cli.main import EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "digest",
        help="print a model's root digest (sha256:...), directory or single file",
        description=(
            "Prints sha256:<hex>, the subject digest a model-signing (v1.0) signature of DIR "
            "carries: the value for the mlgate.io/model-digest annotation. model.sig and git "
            "metadata are ignored."
        ),
    )
    p.add_argument("model_dir", type=Path, metavar="PATH", help="model directory or single file")
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATH",
        help="path (relative to DIR) to leave out, as when signing (repeatable)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mlgate.supplychain.modeldir import model_digest

    print(model_digest(args.model_dir, args.ignore))
    return EXIT_OK
