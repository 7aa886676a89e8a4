"""Signature-only verification on the admission path: cold (verify) vs warm (cached).

For each signing method, ``SupplyChainVerifier.facts()`` is timed with an empty cache (the
full verification: base64, JSON, DSSE signature, certificate chain or Sigstore bundle with
its transparency-log proof) and with a warm cache (the per-request cost once a bundle has
been seen). One JSON line per measurement, then one with the cold/warm ratio.

Usage: python bench/bench_signature.py [--n 2000] [--quick]
Vectors (for the keyless case) are read from ../shared/vectors or $MLGATE_VECTORS.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, percentiles, time_calls

REPO = Path(__file__).resolve().parents[1]
VECTORS = Path(os.environ.get("MLGATE_VECTORS", REPO.parent / "shared" / "vectors"))


def _annotations(signature: bytes, attestation: bytes | None = None) -> dict[str, str]:
    out = {"mlgate.io/signature": base64.b64encode(signature).decode()}
    if attestation is not None:
        out["mlgate.io/attestation"] = base64.b64encode(attestation).decode()
    return out


def cases(tmp: Path) -> list[tuple[str, Any, dict[str, str], str]]:
    """(name, verifier, annotations, declared digest) for each signing method."""
    from mlgate.supplychain.modeldir import model_digest, sign_model
    from mlgate.supplychain.trust import TrustPolicy
    from mlgate.supplychain.verifier import SupplyChainVerifier

    out = []
    demo = SupplyChainVerifier.from_policy_dir(REPO / "policies")
    model = REPO / "examples" / "models" / "fraud-detector"
    attestation = REPO / "examples" / "attestations" / "fraud-detector.intoto.json"
    digest = model_digest(model)
    signature = (model / "model.sig").read_bytes()
    out.append(("key", demo, _annotations(signature), digest))
    out.append(("key+attestation", demo, _annotations(signature, attestation.read_bytes()), digest))

    # A private-PKI signature: root -> intermediate -> leaf, made here.
    sys.path.insert(0, str(REPO / "tests"))
    from test_signing_roundtrip import make_chain, make_model

    pki = make_chain(tmp / "pki")
    own = make_model(tmp / "model")
    sig = sign_model(own, key=pki["key"], cert_chain=[pki["leaf"], pki["int"]]).read_bytes()
    trust = TrustPolicy.from_document(
        {
            "apiVersion": "mlgate.io/v1",
            "kind": "TrustPolicy",
            "authorities": [
                {
                    "name": "ca",
                    "purposes": ["model"],
                    "certificate": {"ca": [{"path": str(pki["root"])}]},
                }
            ],
        }
    )
    out.append(("certificate", SupplyChainVerifier(trust), _annotations(sig), model_digest(own)))

    keyless = VECTORS / "model-signing" / "v1.1.0-sigstore"
    if (keyless / "model.sig").is_file():
        trust = TrustPolicy.from_document(
            {
                "apiVersion": "mlgate.io/v1",
                "kind": "TrustPolicy",
                "authorities": [
                    {
                        "name": "ibm",
                        "purposes": ["model"],
                        "keyless": {
                            "identities": [
                                {
                                    "subject": "stefanb@us.ibm.com",
                                    "issuer": "https://sigstore.verify.ibm.com/oauth2",
                                }
                            ]
                        },
                    }
                ],
            }
        )
        out.append(
            (
                "keyless-rfc3161",
                SupplyChainVerifier(trust),
                _annotations((keyless / "model.sig").read_bytes()),
                model_digest(keyless, ["ignore-me"]),
            )
        )
    else:
        emit({"bench": "signature", "case": "keyless-rfc3161", "skipped": f"no {keyless}"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 200 if args.quick else args.n

    from mlgate.supplychain.verifier import Scope

    scope = Scope("production", "ml-prod")
    with tempfile.TemporaryDirectory() as tmp:
        for name, verifier, annotations, digest in cases(Path(tmp)):
            facts = verifier.facts(annotations, digest, scope)
            assert facts["signature"]["trusted"], (name, facts["signature"]["error"])

            def call(v: Any = verifier, a: dict[str, str] = annotations, d: str = digest) -> Any:
                return v.facts(a, d, scope)

            def cold(v: Any = verifier, f: Callable[[], Any] = call) -> Any:
                v.cache.clear()
                return f()

            results = {}
            for mode, fn in (("cold", cold), ("warm", call)):
                stats = percentiles(time_calls(fn, n if mode == "warm" else max(50, n // 4), 20))
                results[mode] = stats
                emit({"bench": "signature", "case": name, "mode": mode, **stats})
            emit(
                {
                    "bench": "signature",
                    "case": name,
                    "ratio_cold_over_warm_median": round(
                        results["cold"]["median_us"] / results["warm"]["median_us"], 1
                    ),
                    "ratio_cold_over_warm_p99": round(
                        results["cold"]["p99_us"] / results["warm"]["p99_us"], 1
                    ),
                }
            )


if __name__ == "__main__":
    main()
