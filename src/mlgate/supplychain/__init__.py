"""Supply-chain evidence on the admission hot path: who signed the model, and is it this model.

Owns the trust policy (``trust``: ``policies/trust.yaml`` compiled once into authorities and
Sigstore verifiers), signature facts (``facts``), DSSE signing (``dsse``), signature-only
bundle verification (``signature`` with the key/certificate/keyless checks in ``signers``),
model-directory signing and pod-start verification (``modeldir``), governance attestations
(``attestation``), where bundles come from (``sources``: inline, store, allow-listed HTTPS),
the verification cache (``cache``) and the one per-model entry point the engine calls
(``verifier.SupplyChainVerifier``). Verification never raises: every problem becomes a fact
with an ``error`` and the policy decides.

May import: ``mlgate.errors``, ``mlgate.policyset`` (schema validation of trust.yaml),
``mlgate._internal`` (private APIs of sigstore and model_signing) and its dependencies
(cryptography, sigstore, model_signing, httpx). Must not import the engine, rego, server or cli.
"""
