"""A file that trust.yaml references is part of what the policy trusts: it is hashed into the
revision and watched, so replacing it reloads (and a missing one is a policy error)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from error_codes import line_of
from mlgate.errors import PolicyError
from mlgate.policyset import load_policy_set
from mlgate.server.reload import PolicyReloader
from pki import new_public_pem


def _reference_key_file(policies: Path, ref: str) -> None:
    """Turns the first authority's inline PEM into ``key: {path: ref}``."""
    trust = policies / "trust.yaml"
    text = trust.read_text()
    inline = re.compile(
        r"key:\n\s+pem: \|\n(?:\s+-----BEGIN PUBLIC KEY-----\n)(?:\s+.*\n)*?\s+-----END PUBLIC KEY-----\n"
    )
    new, count = inline.subn(f"key:\n      path: {ref}\n", text, count=1)
    assert count == 1
    trust.write_text(new)


@pytest.fixture
def trusted_key(policy_copy: Path, tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "model-signer.pem"  # outside the policy directory
    key.parent.mkdir()
    key.write_bytes(new_public_pem())
    _reference_key_file(policy_copy, "../keys/model-signer.pem")
    return key


def test_revision_covers_referenced_key_files(policy_copy: Path, trusted_key: Path) -> None:
    before = load_policy_set(policy_copy)
    assert trusted_key.resolve() in before.watched
    trusted_key.write_bytes(new_public_pem())
    after = load_policy_set(policy_copy)
    assert after.revision != before.revision


def test_missing_referenced_file_is_a_policy_error(policy_copy: Path, trusted_key: Path) -> None:
    trusted_key.unlink()
    with pytest.raises(PolicyError) as err:
        load_policy_set(policy_copy)
    trust = policy_copy / "trust.yaml"
    line = line_of(trust.read_text(), "model-signer.pem")
    assert (err.value.code, err.value.location) == ("trust.unreadable_file", f"{trust}:{line}")


def test_replacing_a_referenced_key_reloads(policy_copy: Path, trusted_key: Path) -> None:
    def build(path: Path) -> SimpleNamespace:
        policy_set = load_policy_set(path)
        return SimpleNamespace(policy_set=policy_set, revision=policy_set.revision)

    reloader = PolicyReloader(policy_copy, interval_s=0, build=build)  # type: ignore[arg-type]
    assert reloader.load() is True
    first = reloader.status.revision
    assert reloader.load() is False  # nothing changed
    replacement = trusted_key.with_suffix(".new")
    replacement.write_bytes(new_public_pem())
    os.replace(replacement, trusted_key)  # how a Secret mount or an operator swaps it
    assert reloader.load() is True
    assert reloader.status.revision != first
