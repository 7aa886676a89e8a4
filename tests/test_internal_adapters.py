"""Each ``mlgate._internal`` adapter against the installed dependency: these fail loudly when a
release moves the private API an adapter relies on (then fix or delete the adapter)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlgate._internal import model_signing as ms_adapter
from mlgate._internal import opa_client, sigstore
from mlgate.supplychain.facts import MODEL_PREDICATE
from mlgate.supplychain.sigstore_roots import BUILTIN_ROOTS, builtin_root_json

REPO = Path(__file__).resolve().parents[1]


def test_sigstore_still_has_the_private_time_routine() -> None:
    from sigstore._internal.timestamp import TimestampSource
    from sigstore.verify import Verifier

    assert callable(Verifier._establish_time)
    assert {s.name for s in TimestampSource} >= {"TIMESTAMP_AUTHORITY", "TRANSPARENCY_SERVICE"}


def test_timestamp_source_is_unknown_not_an_error_for_a_foreign_object() -> None:
    assert sigstore.timestamp_source(object(), object()) is None


@pytest.mark.parametrize("name", BUILTIN_ROOTS)
def test_sigstore_still_ships_trusted_roots_where_the_refresh_tool_reads_them(name: str) -> None:
    root = json.loads(sigstore.bundled_trusted_root(name))
    assert root["mediaType"].startswith("application/vnd.dev.sigstore.trustedroot+json")


def test_shipped_roots_match_their_provenance_record() -> None:
    record = json.loads((REPO / "src/mlgate/supplychain/roots/PROVENANCE.json").read_text())
    assert set(record["roots"]) == set(BUILTIN_ROOTS)
    for name, entry in record["roots"].items():
        assert hashlib.sha256(builtin_root_json(name)).hexdigest() == entry["sha256"]


def test_model_signing_statement_round_trip(tmp_path: Path) -> None:
    from model_signing import hashing

    (tmp_path / "weights.bin").write_bytes(b"\x00" * 100)
    (tmp_path / "config.json").write_text("{}")
    manifest = hashing.Config().use_file_serialization().hash(tmp_path)
    statement = ms_adapter.statement_of(manifest)
    assert statement["predicateType"] == MODEL_PREDICATE
    assert len(statement["subject"]) == 1
    back = ms_adapter.manifest_of(statement)
    digests = {r.identifier: r.digest.digest_hex for r in back.resource_descriptors()}
    assert digests == {r.identifier: r.digest.digest_hex for r in manifest.resource_descriptors()}
    assert digests["weights.bin"] == hashlib.sha256(b"\x00" * 100).hexdigest()


def test_opa_client_still_keeps_a_requests_session() -> None:
    import requests
    from opa_client import OpaClient

    client = OpaClient(host="127.0.0.1", port=1, retries=0)
    assert isinstance(opa_client.session_of(client), requests.Session)
