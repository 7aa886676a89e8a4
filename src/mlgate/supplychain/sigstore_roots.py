"""Sigstore trust roots for keyless verification, offline: the ones mlgate ships, or a file.

Admission must decide offline and reproducibly, so the public-good Sigstore roots are package
data (``supplychain/roots/<name>/trusted_root.json``), not sigstore's TUF cache (which may be
stale or unverified) nor a network refresh. ``roots/PROVENANCE.json`` records where each file
came from and its sha256; ``make sigstore-roots`` refreshes them (see ``docs/architecture.md``).
A private (air-gapped) Sigstore deployment is configured in trust.yaml as a ClientTrustConfig.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

BUILTIN_ROOTS = ("production", "staging")


def _shipped(name: str) -> Traversable:
    if name not in BUILTIN_ROOTS:
        raise KeyError(f"no built-in Sigstore trust root {name!r}")
    return resources.files("mlgate.supplychain").joinpath("roots", name, "trusted_root.json")


def builtin_root_json(name: str) -> bytes:
    """The shipped ``trusted_root.json`` of ``production`` or ``staging``."""
    return _shipped(name).read_bytes()


@functools.cache
def builtin_trusted_root(name: str) -> TrustedRoot:
    from sigstore.models import TrustedRoot

    with resources.as_file(_shipped(name)) as path:
        return TrustedRoot.from_file(str(path))


@functools.cache
def builtin_verifier(name: str) -> Verifier:
    from sigstore.verify import Verifier

    return Verifier(trusted_root=builtin_trusted_root(name))


def prebuilt(verifier: Verifier) -> Callable[[], Verifier]:
    """A private trust config is parsed at load time, so a broken one is a policy error
    then, not at the first signature."""
    return lambda: verifier


def verifier_from_trust_config(config_json: bytes) -> Verifier:
    """A verifier for a private (air-gapped) Sigstore deployment's ClientTrustConfig."""
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    return Verifier(trusted_root=ClientTrustConfig.from_json(config_json.decode()).trusted_root)
