"""Which Rego engines can decide: wasm (default) and opa; rego-cpp cannot be selected."""

from __future__ import annotations

import pytest

from conftest import POLICIES
from error_codes import raises_code
from mlgate.engine import BACKENDS, DEFAULT_BACKEND, Engine
from mlgate.errors import MlgateError
from mlgate.policyset import load_policy_set


def test_the_deciding_backends() -> None:
    assert DEFAULT_BACKEND == "wasm"
    assert BACKENDS == ("wasm", "opa")


@pytest.mark.parametrize("name", ["rego-cpp", "regocpp", "regopy", "rego_cpp"])
def test_rego_cpp_is_refused_with_a_code(name: str) -> None:
    # regopy is installed with the test extra (conformance comparison): it must still be
    # impossible to decide with it, and the error must say so, not just "unknown".
    with raises_code(MlgateError, "backend_removed"):
        Engine(load_policy_set(POLICIES), name)


def test_an_unknown_backend_is_refused_with_a_code() -> None:
    with raises_code(MlgateError, "unknown_backend"):
        Engine(load_policy_set(POLICIES), "gatekeeper")


def test_the_cli_offers_no_rego_cpp() -> None:
    from mlgate.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["check", "--backend", "rego-cpp", str(POLICIES)])
    assert exited.value.code == 2  # argparse refuses a choice outside wasm/opa/embedded
