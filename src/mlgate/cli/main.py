"""Entry point: dispatches to one module per sub-command.

Each command module exposes ``register(subparsers) -> None``; the parser it adds sets
``handler=callable(args) -> int``. Heavy imports (fastapi, sigstore, numpy) stay inside the
handlers so that ``mlgate check`` starts fast.
Exit codes (DESIGN.md 3.1): 0 allowed, 1 denied, 2 usage, input or policy error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from mlgate.errors import MlgateError

# Order is the order of `mlgate --help`.
COMMAND_MODULES = (
    "check",
    "scan",
    "eval",
    "test",
    "policy",
    "controls",
    "gate",
    "sign",
    "verify",
    "digest",
    "attest",
    "serve",
    "certs",
    "audit",
    "bundle",
    "impact",
    "report",
    "console",
)

EXIT_OK = 0
EXIT_DENIED = 1
EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 already; keep its message short
        self.print_usage(sys.stderr)
        print(f"mlgate: error: {message}", file=sys.stderr)
        sys.exit(EXIT_ERROR)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or, with ``only``, one that knows just that command: importing
    every command module would make ``mlgate check`` pay for the imports of ``serve`` or
    ``policy`` at each start."""
    parser = _Parser(
        prog="mlgate",
        description="Policy-as-code for machine-learning models: CI checks and admission control.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in (only,) if only in COMMAND_MODULES else COMMAND_MODULES:
        importlib.import_module(f"mlgate.cli.cmd_{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(handler(args))
    except MlgateError as err:
        print(f"mlgate: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
