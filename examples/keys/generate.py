"""Rebuilds the DEMO key pairs, example models, their signatures and the example attestation.

    .venv/bin/python examples/keys/generate.py [--check]

DEMO ONLY: the private keys are committed and derived from public seeds, so anyone can sign
as them. Never trust them outside a demo cluster. Everything here is deterministic (keys from
fixed seeds, RFC 6979 signatures, fixed timestamps): running it again reproduces the same
bytes, and ``--check`` fails if a committed file differs from what it would write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

EXAMPLES = Path(__file__).resolve().parents[1]
REPO = EXAMPLES.parent
KEYS = EXAMPLES / "keys"
MODELS = EXAMPLES / "models"
ATTESTATIONS = EXAMPLES / "attestations"

# name -> seed. The key is derived from sha256(seed): reproducible, and therefore not secret.
DEMO_KEYS = {
    "model-signing": "mlgate demo model-signing key v1",
    "promotion-pipeline": "mlgate demo promotion-pipeline key v1",
}

MODEL_FILES = {
    "fraud-detector": {
        "model.json": json.dumps(
            {
                "format": "xgboost-json",
                "name": "fraud-detector",
                "version": "1.4.0",
                "features": ["amount", "merchant_category", "hour", "country"],
                "trees": 3,
            },
            indent=2,
        )
        + "\n",
        "weights.bin": bytes(range(32)),
    },
    "credit-scorer": {
        "model.json": json.dumps(
            {
                "format": "onnx-stub",
                "name": "credit-scorer",
                "version": "0.9.2",
                "features": ["income", "debt_ratio", "history_months"],
            },
            indent=2,
        )
        + "\n",
        "weights.bin": bytes(reversed(range(48))),
    },
}
# The URIs each model is attested for (SC-URI-BOUND): "{digest}" is its root digest, so the
# content-addressed OCI form needs no pod-start verification.
ATTESTED = {
    "credit-scorer": {
        "model_version": "0.9.2",
        "model_uris": [
            "s3://ml-models-prod/credit-scorer/0.9.2",
            "oci://registry.example.com/models/credit-scorer@{digest}",
        ],
        "created_at": "2026-11-10T14:30:00Z",
    },
    "fraud-detector": {
        "model_version": "1.4.0",
        "model_uris": [
            "s3://models/fraud-detector/v3",
            "oci://registry.example.com/models/fraud-detector@{digest}",
        ],
        "created_at": "2026-11-06T08:00:00Z",
    },
}


def demo_key(name: str) -> ec.EllipticCurvePrivateKey:
    seed = int.from_bytes(hashlib.sha256(DEMO_KEYS[name].encode()).digest(), "big")
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256
    return ec.derive_private_key(seed % (order - 1) + 1, ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def outputs() -> dict[Path, bytes]:
    """The keys and model files (everything but signatures), with their content."""
    files: dict[Path, bytes] = {}
    for name in DEMO_KEYS:
        key = demo_key(name)
        files[KEYS / f"{name}.key.pem"] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        files[KEYS / f"{name}.pub.pem"] = public_pem(key)

    for model, content in MODEL_FILES.items():
        for fname, data in content.items():
            files[MODELS / model / fname] = data.encode() if isinstance(data, str) else data
    return files


def write(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)


def signed_outputs() -> dict[Path, bytes]:
    """Signatures and attestations: computed from the files ``outputs()`` wrote."""
    from mlgate.policyset.yamlfile import load_data_file
    from mlgate.supplychain.attestation import create_attestation
    from mlgate.supplychain.dsse import KeySigner
    from mlgate.supplychain.modeldir import model_digest, sign_model

    files: dict[Path, bytes] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir) / "model.sig"
        for model in MODEL_FILES:
            sign_model(MODELS / model, key=KEYS / "model-signing.key.pem", signature_path=tmp)
            files[MODELS / model / "model.sig"] = tmp.read_bytes()

    signer = KeySigner.build(demo_key("promotion-pipeline"))
    for model, meta in ATTESTED.items():
        inputs = ATTESTATIONS / model
        digest = model_digest(MODELS / model)
        uris = [u.format(digest=digest) for u in meta["model_uris"]]
        files[ATTESTATIONS / f"{model}.intoto.json"] = create_attestation(
            signer,
            model_name=model,
            model_digest=digest,
            card=load_data_file(inputs / "card.yaml")[0],
            evaluation=load_data_file(inputs / "evidence.json")[0],
            approvals=load_data_file(inputs / "approvals.yaml")[0],
            gates=load_data_file(inputs / "gates.yaml")[0],
            **{**meta, "model_uris": uris},
        )
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed file is stale")
    args = parser.parse_args()
    base = outputs()
    if not args.check:
        write(base)
    files = {**base, **signed_outputs()}
    stale = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(REPO)}", file=sys.stderr)
        return 1 if stale else 0
    write(files)
    trust = (REPO / "policies" / "trust.yaml").read_text(encoding="utf-8")
    for name in DEMO_KEYS:
        body = "".join(public_pem(demo_key(name)).decode().split())
        if body not in "".join(trust.split()):
            print(
                f"warning: policies/trust.yaml does not hold the {name} public key", file=sys.stderr
            )
    for path in sorted(files):
        print(("updated " if path in stale else "ok      ") + str(path.relative_to(REPO)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
