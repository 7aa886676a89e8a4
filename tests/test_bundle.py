"""Signed OPA bundles: built by mlgate, accepted by the real OPA, tampering refused by both."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from error_codes import raises_code
from mlgate import Engine
from mlgate.cli.main import main as cli
from mlgate.errors import BackendUnavailable, PolicyError, VerificationError
from mlgate.policyset.bundle import (
    Signing,
    build_bundle,
    file_hash,
    read_bundle,
    signatures_file,
    verify_bundle,
)
from mlgate.policytest.cases import Suite
from mlgate.rego.opa import OpaBackend
from mlgate.rego.opaprocess import OpaProcess
from opa_support import (
    OPA,
    POLICIES,
    POLICY_TESTS,
    decision_key,
    policy_set,
    requires_opa,
    shared_engines,
)
from pki import write_keypair

KEY_ID = "mlgate-test"
needs_opa = requires_opa[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    tmp = tmp_path_factory.mktemp("keys")
    return {"rsa": write_keypair(tmp, "rsa"), "ec": write_keypair(tmp, "ec")}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, tuple[Path, Path]]) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bundle.tar.gz"
    assert (
        cli(
            [
                "bundle",
                "build",
                str(POLICIES),
                "-o",
                str(out),
                "--sign-key",
                str(keys["rsa"][0]),
                "--key-id",
                KEY_ID,
            ]
        )
        == 0
    )
    return out


def _bases() -> list[dict]:
    suite = Suite(POLICY_TESTS)
    return [suite.base(p.stem, str(p)) for p in sorted((POLICY_TESTS / "bases").glob("*.yaml"))]


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of a bundle with files replaced (bytes), added, or removed (None)."""
    files = read_bundle(src)
    for name, raw in change.items():
        if raw is None:
            files.pop(name)
        else:
            files[name] = raw
    with tarfile.open(dst, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return dst


def _opa_with_bundle(bundle: Path, public: Path, *extra: str) -> OpaProcess:
    args = [
        "--bundle",
        "--verification-key",
        str(public),
        "--verification-key-id",
        KEY_ID,
        *extra,
        str(bundle),
    ]
    return OpaProcess(OPA, args=args, token=None, startup_timeout=15)


def test_build_is_reproducible_and_lays_out_the_policy_set(tmp_path: Path) -> None:
    a = build_bundle(POLICIES, tmp_path / "a.tar.gz")
    b = build_bundle(POLICIES, tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    files = read_bundle(tmp_path / "a.tar.gz")
    manifest = json.loads(files[".manifest"])
    assert manifest["revision"] == policy_set().revision == a["revision"] == b["revision"]
    assert manifest["roots"] == ["mlgate"]
    assert json.loads(files["data.json"]) == json.loads(json.dumps(policy_set().data))
    assert {"controls.yaml", "params.yaml", "main.rego", "lib.rego"} <= set(files)
    assert ".signatures.json" not in files


def test_cli_verify_accepts_the_signed_bundle(
    signed: Path, keys: dict[str, tuple[Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(
            [
                "bundle",
                "verify",
                str(signed),
                "--verification-key",
                str(keys["rsa"][1]),
                "--key-id",
                KEY_ID,
            ]
        )
        == 0
    )
    assert "verified (RS256, key id 'mlgate-test')" in capsys.readouterr().out


@pytest.mark.opa
@needs_opa
def test_opa_serves_the_signed_bundle(signed: Path, keys: dict[str, tuple[Path, Path]]) -> None:
    with _opa_with_bundle(signed, keys["rsa"][1]) as server:
        loaded = Engine.from_bundle(signed, keys["rsa"][1], key_id=KEY_ID)
        backend = OpaBackend(loaded.policy_set, url=server.url, push=False)
        engine = Engine(loaded.policy_set, backend)
        embedded, _ = shared_engines()
        try:
            for doc in _bases():
                assert decision_key(engine.evaluate(doc)) == decision_key(embedded.evaluate(doc))
        finally:
            engine.close()


@pytest.mark.opa
@needs_opa
def test_opa_refuses_a_bundle_with_a_changed_file(
    tmp_path: Path,
    signed: Path,
    keys: dict[str, tuple[Path, Path]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    tampered = _rewrite(
        signed,
        tmp_path / "bad.tar.gz",
        {"lib.rego": read_bundle(signed)["lib.rego"] + b"\n# changed\n"},
    )
    with pytest.raises(BackendUnavailable, match=r"lib\.rego: digest mismatch"):
        _opa_with_bundle(tampered, keys["rsa"][1]).start()
    verify = ["bundle", "verify", str(tampered), "--verification-key", str(keys["rsa"][1])]
    assert cli(verify) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0  # one line, no traceback
    assert cli([*verify, "--output-format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["verified"], report["code"], report["location"]) == (
        False,
        "bundle.digest_mismatch",
        "lib.rego",
    )
    with raises_code(VerificationError, "bundle.digest_mismatch", location="lib.rego"):
        Engine.from_bundle(tampered, keys["rsa"][1])


@pytest.mark.parametrize(
    ("change", "code", "location"),
    [
        (
            {"extra.rego": b"package mlgate.extra\n\nallow := true\n"},
            "bundle.unsigned_file",
            "extra.rego",
        ),
        ({"params.yaml": None}, "bundle.missing_file", None),
        ({"data.json": b'{"mlgate": {}}'}, "bundle.digest_mismatch", "data.json"),
    ],
)
def test_extra_missing_and_changed_files_are_refused(
    tmp_path: Path,
    signed: Path,
    keys: dict[str, tuple[Path, Path]],
    change: dict[str, bytes | None],
    code: str,
    location: str | None,
) -> None:
    bad = _rewrite(signed, tmp_path / "bad.tar.gz", change)
    with raises_code(VerificationError, code, location=location):
        verify_bundle(bad, keys["rsa"][1])
    with raises_code(VerificationError, code, location=location):
        Engine.from_bundle(bad, keys["rsa"][1])


@pytest.mark.opa
@needs_opa
def test_opa_also_refuses_an_unsigned_extra_file(
    tmp_path: Path, signed: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    bad = _rewrite(
        signed,
        tmp_path / "extra.tar.gz",
        {"extra.rego": b"package mlgate.extra\n\nallow := true\n"},
    )
    with pytest.raises(BackendUnavailable, match="not included in bundle signature"):
        _opa_with_bundle(bad, keys["rsa"][1]).start()


def test_wrong_key_and_unsigned_bundles(
    tmp_path: Path, signed: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    with raises_code(VerificationError, "bundle.bad_signature"):
        verify_bundle(signed, write_keypair(tmp_path, "rsa")[1])
    with raises_code(VerificationError, "bundle.key_id_mismatch"):
        verify_bundle(signed, keys["rsa"][1], key_id="someone-else")
    unsigned = tmp_path / "unsigned.tar.gz"
    build_bundle(POLICIES, unsigned)
    with raises_code(VerificationError, "bundle.no_key", location=str(unsigned)):
        Engine.from_bundle(unsigned, None)
    with raises_code(VerificationError, "bundle.not_signed"):
        verify_bundle(unsigned, keys["rsa"][1])
    assert Engine.from_bundle(unsigned, None, allow_unsigned=True).revision == policy_set().revision
    assert (
        cli(
            [
                "bundle",
                "verify",
                str(tmp_path / "nope.tar.gz"),
                "--verification-key",
                str(keys["rsa"][1]),
            ]
        )
        == 2
    )


def test_engine_from_bundle_decides_like_the_directory(
    signed: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    engine = Engine.from_bundle(signed, keys["rsa"][1], key_id=KEY_ID)
    direct = Engine.from_path(POLICIES)
    assert engine.revision == direct.revision
    for doc in _bases():
        assert decision_key(engine.evaluate(doc)) == decision_key(direct.evaluate(doc))


@pytest.mark.opa
@needs_opa
def test_es256_revision_override_and_provenance_check(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    out = tmp_path / "es.tar.gz"
    build_bundle(
        POLICIES, out, signing=Signing(keys["ec"][0], "ES256", KEY_ID), revision="release-42"
    )
    assert verify_bundle(out, keys["ec"][1]).alg == "ES256"
    loaded = Engine.from_bundle(out, keys["ec"][1])
    assert loaded.revision == "release-42"
    with _opa_with_bundle(out, keys["ec"][1], "--signing-alg", "ES256") as server:
        backend = OpaBackend(loaded.policy_set, url=server.url, push=False)
        try:
            assert "findings" in backend.evaluate(_bases()[0])
        finally:
            backend.close()
        with raises_code(PolicyError, "opa.bundle_revision", location=server.url):
            OpaBackend(policy_set(), url=server.url, push=False)


@pytest.mark.opa
@needs_opa
def test_structured_file_hash_matches_opa(
    tmp_path: Path, keys: dict[str, tuple[Path, Path]]
) -> None:
    """data.json is hashed over OPA's canonical form: key order, escapes and number text."""
    data = {
        "mlgate": {
            "z": 'quote " backslash \\ <html> & \u2028 \u00e9 😀 \x01',
            "a": [1.50, 1e-05, -0, 10000000000000000000000, 0.1, True, None],
            "é": {"b": 2, "B": 1, "": 0},
        }
    }
    files = {
        ".manifest": json.dumps({"revision": "hash-test", "roots": ["mlgate"]}).encode(),
        # Number literals as written, not as Python would print them.
        "data.json": json.dumps(data, ensure_ascii=False).replace("1.5,", "1.50,").encode(),
        "mlgate/x.rego": b"package mlgate.x\n\nok := true\n",
        "notes/controls.yaml": b"controls: []\n",
    }
    files[".signatures.json"] = signatures_file(files, Signing(keys["rsa"][0], None, KEY_ID))
    bundle = tmp_path / "hash.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    assert file_hash("data.json", files["data.json"]) == file_hash(
        "data.json", json.dumps(data, indent=3).replace("1.5,", "1.50,").encode()
    )
    verify_bundle(bundle, keys["rsa"][1])
    with _opa_with_bundle(bundle, keys["rsa"][1]) as server:
        assert server.healthy()
