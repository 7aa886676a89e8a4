"""``mlgate eval --input FILE``: one canonical input in, one decision (JSON) out."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlgate.cli.common import add_engine_options, make_engine
from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import InputError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate one canonical input document and print the decision as JSON",
        description="Input: a JSON or YAML document matching schemas/input.schema.json.",
    )
    p.add_argument("--input", "-i", required=True, type=Path, metavar="FILE")
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    add_engine_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mlgate.policyset.yamlfile import load_data_file

    document, _ = load_data_file(args.input)
    if not isinstance(document, dict):
        raise InputError(
            "expected a JSON/YAML object (the canonical input)", location=str(args.input)
        )
    engine = make_engine(args)
    try:
        problems = engine.input_errors(document)
        if problems:
            raise InputError(
                "does not match schemas/input.schema.json: " + "; ".join(problems),
                location=str(args.input),
            )
        decision = engine.evaluate(document, validate=False)
    finally:
        engine.close()
    print(decision.to_json(indent=None if args.compact else 2))
    return EXIT_OK if decision.allowed else EXIT_DENIED
