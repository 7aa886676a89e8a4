"""``mlgate test [DIR]``: runs the policy test cases (and the Rego ``test_`` rules).

Exit codes: 0 every case passed, 1 at least one failed, 2 a test file, a base or the policy
set could not be loaded (the message names ``file:line``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from mlgate.cli.common import add_engine_options, make_engine
from mlgate.cli.main import EXIT_DENIED, EXIT_OK
from mlgate.errors import InputError

OUTPUTS = ("table", "json", "junit")


def default_test_dir() -> Path:
    """``./policy-tests``: the suite lives with the policies it tests, in the user's repository
    (it is not package data, so there is nothing to fall back to)."""
    local = Path("policy-tests")
    if not local.is_dir():
        raise InputError(
            "no policy-tests/ directory here: pass the test directory (mlgate test DIR)"
        )
    return local


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "test",
        help="run policy test cases (policy-tests/) and Rego test_ rules",
        description=(
            "Runs every case in DIR/*.yaml through the real engine and compares the decision "
            "with the case's expectation; also runs the test_ rules of policies/*_test.rego on "
            "the embedded engine. Exit 0 all passed, 1 a case failed, 2 a file is invalid."
        ),
    )
    p.add_argument("directory", nargs="?", type=Path, metavar="DIR", help="default: policy-tests/")
    p.add_argument("--output", "-o", choices=OUTPUTS, default="table")
    p.add_argument("--run", metavar="REGEX", help="only cases (and Rego tests) whose name matches")
    p.add_argument("--no-rego", action="store_true", help="skip the Rego test_ rules")
    p.add_argument("--verbose", "-v", action="store_true", help="details for passing cases too")
    add_engine_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mlgate.cli.output import test as render
    from mlgate.policytest.cases import Suite
    from mlgate.policytest.runner import run_cases, run_rego_tests

    try:
        pattern = re.compile(args.run) if args.run else None
    except re.error as err:
        raise InputError(f"--run: invalid regular expression: {err}") from None
    suite = Suite(args.directory or default_test_dir())
    cases = suite.load()
    if pattern is not None:
        cases = [c for c in cases if pattern.search(c.name)]
    engine = make_engine(args)
    try:
        results = run_cases(engine, cases)
        if not args.no_rego:
            select = (lambda name: pattern.search(name) is not None) if pattern else None
            results += run_rego_tests(engine.policy_set, select)
    finally:
        engine.close()
    if args.output == "json":
        print(render.render_json(results))
    elif args.output == "junit":
        print(render.render_junit(results))
    else:
        print(render.render_table(results, verbose=args.verbose))
    return EXIT_DENIED if any(r.status == "fail" for r in results) else EXIT_OK
