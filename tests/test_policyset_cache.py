"""The checked policy set cached by content (mlgate.policyset.cache): a hit is the same set, any
change loads afresh, and an entry another user could have written is never read."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from conftest import POLICIES
from mlgate.errors import MlgateError
from mlgate.policyset import cache, load_policy_set


@pytest.fixture
def policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cache, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.delenv(cache.ENV_SWITCH, raising=False)
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, symlinks=False)
    return target


def _entries(policies: Path) -> list[Path]:
    return sorted((policies.parent / "cache").glob("*.pickle"))


def test_a_hit_is_the_set_a_fresh_load_gives(policies: Path) -> None:
    first = cache.load_policy_set_cached(policies)
    assert len(_entries(policies)) == 1
    again = cache.load_policy_set_cached(policies)
    assert again == first == load_policy_set(policies)
    assert again is not first  # read back from the entry, not this process's object


def test_an_edit_loads_afresh(policies: Path) -> None:
    before = cache.load_policy_set_cached(policies)
    params = policies / "params.yaml"
    params.write_text(params.read_text() + "\n# an edit\n")
    after = cache.load_policy_set_cached(policies)
    assert after.revision != before.revision
    assert len(_entries(policies)) == 2


def test_a_broken_edit_is_refused_even_after_a_hit(policies: Path) -> None:
    cache.load_policy_set_cached(policies)
    (policies / "controls.yaml").write_text("controls: [")
    with pytest.raises(MlgateError):
        cache.load_policy_set_cached(policies)


def test_an_entry_others_could_write_is_not_read(policies: Path) -> None:
    cache.load_policy_set_cached(policies)
    (entry,) = _entries(policies)
    entry.write_bytes(b"not a pickle")  # what another user could leave there
    os.chmod(entry, 0o666)
    assert cache.load_policy_set_cached(policies) == load_policy_set(policies)
    os.chmod(entry, 0o600)  # private but damaged: a fresh load, then a good entry
    assert cache.load_policy_set_cached(policies) == load_policy_set(policies)


def test_a_trusted_file_outside_the_directory_is_hashed_on_every_hit(
    policies: Path, tmp_path: Path
) -> None:
    key = tmp_path / "outside" / "signer.pub"
    key.parent.mkdir()
    key.write_text("-----BEGIN PUBLIC KEY-----\nA\n-----END PUBLIC KEY-----\n")
    first = cache.load_policy_set_cached(policies)
    fake = type(first)(**{**first.__dict__, "watched": (key,)})
    entry = _entries(policies)[0]
    entry.write_bytes(
        pickle.dumps({"policy_set": fake, "watched": {str(key): cache._file_digest(key)}})
    )
    assert cache.load_policy_set_cached(policies) is not None
    assert cache.load_policy_set_cached(policies).watched == (key,)  # the hit
    key.write_text("replaced")
    assert cache.load_policy_set_cached(policies).watched == first.watched  # a fresh load


def test_the_switch_turns_it_off(policies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_SWITCH, "0")
    cache.load_policy_set_cached(policies)
    assert _entries(policies) == []


def test_only_the_newest_entries_are_kept(policies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 2)
    params = policies / "params.yaml"
    for i in range(4):
        params.write_text(params.read_text() + f"\n# edit {i}\n")
        cache.load_policy_set_cached(policies)
    assert len(_entries(policies)) == 2
    assert cache.load_policy_set_cached(policies) == load_policy_set(policies)
