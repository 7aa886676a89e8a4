"""Asserting errors the way programs read them: by ``code`` and location, never by message.

Messages are for people and may be reworded (src/mlgate/errors.py); a test that matched
their prose would fail on a better sentence and pass on a wrong error with similar words.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest

from mlgate.errors import MlgateError


@contextlib.contextmanager
def raises_code(
    kind: type[MlgateError], code: str, *, location: str | None = None
) -> Iterator[pytest.ExceptionInfo[MlgateError]]:
    """Like ``pytest.raises(kind)``, and the error's ``code`` (and ``location``, when given)
    must be these."""
    with pytest.raises(kind) as info:
        yield info
    err = info.value
    assert err.code == code, f"code {err.code!r}, wanted {code!r}: {err}"
    if location is not None:
        assert err.location == location, f"location {err.location!r}, wanted {location!r}: {err}"


def problem_codes(err: MlgateError) -> list[tuple[str, str | None]]:
    """``(code, where)`` of each problem of a PolicyDataError (``where`` is ``file:line``); any
    other error is one problem, ``(code, location)``."""
    if problems := getattr(err, "problems", ()):
        return [(p.code, p.where) for p in problems]
    return [(err.code, err.location)]


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of ``text`` that contains ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the text")


def cli_error(argv: list[str]) -> MlgateError:
    """The error ``mlgate <argv>`` fails with: it must exit 2 printing that error's one line
    (as ``main`` does), and the error itself is returned for its code and location."""
    from mlgate.cli.main import EXIT_ERROR, build_parser, main

    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        assert main(argv) == EXIT_ERROR
    args = build_parser(argv[0]).parse_args(argv)
    with pytest.raises(MlgateError) as info:
        args.handler(args)
    assert printed.getvalue() == f"mlgate: error: {info.value}\n"
    return info.value
