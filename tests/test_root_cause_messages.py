"""Denials lead with the root cause and stay readable (issue 10, part 6)."""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from mlgate import Engine
from mlgate.decide import NEEDS_ATTESTATION_CONTROL, PROHIBITED_MOOT_CONTROL
from mlgate.server.admission import denial_message
from mlgate.subjects import RequestInfo, subject_from_object
from mlgate.supplychain.modeldir import model_digest
from serving_shapes import SHAPES, with_annotations

REPO = Path(__file__).resolve().parents[1]
PRODUCTION = RequestInfo(
    username="release-bot",
    groups=("mlops-release-managers",),
    namespace_labels={"mlgate.io/environment": "production"},
)
VLLM = next(obj for shape, obj, _ in SHAPES if shape == "vllm-deployment-shell")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def test_unsigned_llm_leads_with_the_signature_and_folds_the_card_controls(engine) -> None:
    decision = engine.evaluate_subject(subject_from_object(VLLM, PRODUCTION))
    controls = [v.control for v in decision.violations]
    assert controls[0] == "SC-SIGNED"
    assert controls.index("SC-ATTESTED") < controls.index(NEEDS_ATTESTATION_CONTROL)
    assert controls.count(NEEDS_ATTESTATION_CONTROL) == 1
    # No Annex IV field is listed on its own: they are all in the one folded line.
    assert not {"AIA-11-TECHNICAL-DOCUMENTATION", "TIER-DECLARED", "GATE-METRICS"} & set(controls)
    folded = next(v for v in decision.violations if v.control == NEEDS_ATTESTATION_CONTROL)
    assert "AIA-11-TECHNICAL-DOCUMENTATION" in folded.message
    assert folded.message.split()[0].isdigit() and folded.enforcement == "deny"
    message = denial_message(decision, "Deployment", "ml-prod", "vllm-server")
    assert message.startswith("mlgate denied Deployment ml-prod/vllm-server: SC-SIGNED")
    assert ".." not in message.replace("...", "")


def test_untrusted_key_is_reported_as_an_untrusted_signer(engine, tmp_path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00" * 64)
    key = tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
        check=True, capture_output=True,
    )  # fmt: skip
    from mlgate.cli.main import main

    assert (
        main(["sign", str(model), "--key", str(key), "--signature", str(tmp_path / "m.sig")]) == 0
    )
    annotations = {
        "mlgate.io/model-digest": model_digest(model, []),
        "mlgate.io/signature": base64.b64encode((tmp_path / "m.sig").read_bytes()).decode(),
    }
    decision = engine.evaluate_subject(
        subject_from_object(with_annotations(VLLM, annotations), PRODUCTION)
    )
    first = decision.violations[0]
    assert first.control == "SC-TRUSTED-SIGNER"
    assert "public key sha256:" in first.message
    assert "issuer" not in first.message and "does not verify" not in first.message
    assert "SC-SIGNED" not in decision.denied_controls


def base_doc() -> dict:
    return yaml.safe_load((REPO / "policy-tests/bases/compliant-high-production.yaml").read_text())


def test_a_prohibited_model_is_told_it_is_prohibited(engine) -> None:
    doc = base_doc()
    doc["card"]["governance"]["prohibited_practices"] = ["social-scoring"]
    doc["evidence"]["approvals"] = []
    decision = engine.evaluate(doc)
    assert decision.violations[0].control == "TIER-PROHIBITED"
    assert "GATE-APPROVALS" not in decision.denied_controls
    moot = [v for v in decision.violations if v.control == PROHIBITED_MOOT_CONTROL]
    assert len(moot) == 1 and "GATE-APPROVALS" in moot[0].message


def test_a_hub_model_is_not_called_an_image(engine) -> None:
    decision = engine.evaluate_subject(subject_from_object(VLLM, PRODUCTION))
    assert decision.subject["uri"] == "hf://meta-llama/Llama-3.2-1B-Instruct"
    text = " ".join(v.message for v in decision.violations)
    assert "hf://meta-llama/Llama-3.2-1B-Instruct" in text  # named as a model URI ...
    assert "scheme image" not in text and "image meta-llama" not in text  # ... not an image


def test_every_remediation_ends_cleanly(engine) -> None:
    for control in engine.policy_set.catalogue.controls.values():
        text = control.remediation
        assert text == text.strip() and text.endswith((".", ")")), control.id
        assert ".." not in text.replace("...", ""), control.id


def test_messages_keep_the_card_details_when_a_card_is_declared(engine) -> None:
    doc = copy.deepcopy(base_doc())
    doc["card_source"] = "declared"
    doc["card"]["governance"].pop("risk_register_ref", None)
    decision = engine.evaluate(doc)
    assert "AIA-9-RISK-MANAGEMENT" in decision.denied_controls  # a CI author can fix it
    assert NEEDS_ATTESTATION_CONTROL not in decision.denied_controls
