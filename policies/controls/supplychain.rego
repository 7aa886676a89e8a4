# Supply chain: signed, trusted, digest-pinned models with a signed governance attestation
# (AI Act Art. 15(5); OpenSSF model signing; in-toto attestations).
#
# Signatures are verified in Python (mlgate.evidence); the policy sees the verdict and the
# facts (identity, subject digest) and decides what is acceptable.
package mlgate.controls.supplychain

import data.mlgate.lib

sig := lib.obj(input.signature)

att := lib.obj(input.attestation)

# SC-SIGNED: the model carries a signature and it verifies.
findings contains lib.finding("SC-SIGNED", msg, "/signature") if {
	not sig.present == true
	msg := "model is not signed: no mlgate.io/signature or mlgate.io/signature-ref on the object"
}

findings contains lib.finding("SC-SIGNED", msg, "/signature") if {
	sig.present == true
	not sig.verified == true
	not sig.unknown_signer == true
	msg := sprintf("model signature does not verify: %v", [reason(sig)])
}

reason(v) := v.error if lib.text(v.error)

else := "unknown error"

# SC-TRUSTED-SIGNER: a valid signature by an identity trust.yaml does not list is still
# anyone's signature.
findings contains lib.finding("SC-TRUSTED-SIGNER", msg, "/signature/identity") if {
	sig.verified == true
	not sig.trusted == true
	msg := sprintf("model is signed by %s, which is not a trusted model signer for this environment in trust.yaml", [signer(sig)])
}

# A key trust.yaml does not list: the signature cannot even be checked, and the root cause
# is the untrusted signer, not a broken signature.
findings contains lib.finding("SC-TRUSTED-SIGNER", msg, "/signature/identity") if {
	sig.present == true
	not sig.verified == true
	sig.unknown_signer == true
	msg := sprintf("model is signed by %s, which is not a trusted model signer in trust.yaml", [signer(sig)])
}

# signer(v) names who signed: the identity, and the OIDC issuer only when there is one
# (key-based signers have none).
signer(v) := sprintf("%s (issuer %s)", [v.identity, v.issuer]) if {
	lib.text(v.identity)
	lib.text(v.issuer)
} else := v.identity if {
	lib.text(v.identity)
} else := "an unnamed signer"

# SC-DIGEST-MATCH: the signature is about the model that is being deployed.
findings contains lib.finding("SC-DIGEST-MATCH", msg, "/signature/subject_digest") if {
	sig.verified == true
	lib.declared_digest
	subject := object.get(sig, "subject_digest", null)
	subject != lib.declared_digest
	msg := sprintf("the signature covers %v but the object declares mlgate.io/model-digest %v", [subject, lib.declared_digest])
}

findings contains lib.finding("SC-DIGEST-MATCH", msg, "/signature/digest_matches") if {
	sig.verified == true
	lib.declared_digest
	sig.subject_digest == lib.declared_digest
	sig.digest_matches == false
	msg := "the verifier reports that the signed digest does not match the model's declared digest"
}

findings contains lib.finding("SC-DIGEST-MATCH", msg, "/model/declared_digest") if {
	sig.present == true
	not lib.declared_digest
	msg := "the model is signed but the object declares no mlgate.io/model-digest, so the signature cannot be bound to the deployed model"
}

# SC-DIGEST-PINNED: a mutable reference (s3://, gs://, pvc://, https://, a tag) can change
# after it was approved; the declared digest pins the content.
findings contains lib.finding("SC-DIGEST-PINNED", msg, "/model/declared_digest") if {
	not lib.declared_digest
	mutable_reference
	msg := sprintf("model URI %s is mutable (scheme %v) and the object declares no mlgate.io/model-digest", [input.model.uri, scheme])
}

findings contains lib.finding("SC-DIGEST-PINNED", msg, "/model/declared_digest") if {
	digest := lib.declared_digest
	not regex.match(`^sha256:[0-9a-f]{64}$`, digest)
	msg := sprintf("mlgate.io/model-digest '%s' is not of the form sha256:<64 lowercase hex digits>", [digest])
}

scheme := s if {
	s := input.model.uri_scheme
	is_string(s)
} else := "unknown"

mutable_reference if scheme in lib.param(["supply_chain", "mutable_schemes"], [])

mutable_reference if not lib.text(object.get(input.model, "uri_digest", null))

# SC-LEGACY-SIGNATURE: legacy formats sign files, not a root digest, and cannot be bound to
# the declared digest.
findings contains lib.finding("SC-LEGACY-SIGNATURE", msg, "/signature/legacy") if {
	sig.legacy == true
	msg := sprintf("the model signature uses a legacy format without a root digest (predicate %v); re-sign with mlgate sign", [object.get(sig, "predicate_type", null)])
}

findings contains lib.finding("SC-LEGACY-SIGNATURE", msg, "/signature/subject_digest") if {
	sig.verified == true
	not sig.legacy == true
	not lib.text(object.get(sig, "subject_digest", null))
	msg := "the verified model signature carries no subject digest"
}

# SC-ATTESTED: the governance attestation exists, verifies, was signed by the promotion
# identity and is about this model.
governance_predicate := lib.param(["supply_chain", "governance_predicate_type"], "https://mlgate.io/governance/v1")

findings contains lib.finding("SC-ATTESTED", msg, "/attestation") if {
	not att.present == true
	msg := "no governance attestation: set mlgate.io/attestation (create it with mlgate attest in the promotion pipeline)"
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation") if {
	att.present == true
	not att.verified == true
	not att.unknown_signer == true
	msg := sprintf("the governance attestation does not verify: %v", [reason(att)])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/identity") if {
	att.present == true
	not att.verified == true
	att.unknown_signer == true
	msg := sprintf("the governance attestation is signed by %s, which is not the promotion identity trusted in trust.yaml", [signer(att)])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/identity") if {
	att.verified == true
	not att.trusted == true
	msg := sprintf("the governance attestation is signed by %s, which is not the promotion identity trusted in trust.yaml", [signer(att)])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/predicate_type") if {
	att.verified == true
	object.get(att, "predicate_type", null) != governance_predicate
	msg := sprintf("the attestation predicate type is %v, expected %s", [lib.show(object.get(att, "predicate_type", null)), governance_predicate])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/subject_digest") if {
	att.verified == true
	lib.declared_digest
	object.get(att, "subject_digest", null) != lib.declared_digest
	msg := sprintf("the governance attestation is about %v, not about the deployed model %v", [object.get(att, "subject_digest", null), lib.declared_digest])
}

# SC-LICENSE: the model's licence and the terms of use of its training data are known.
findings contains lib.finding("SC-LICENSE", msg, "/card/governance/license") if {
	lib.gov_missing("license")
	count(card_licenses) == 0
	msg := "no model licence: set governance.license (an SPDX identifier) or model_details.licenses"
}

card_licenses := [l |
	some l in lib.arr(object.get(lib.card, ["model_details", "licenses"], []))
	is_object(l)
	count(l) > 0
]

findings contains lib.finding("SC-LICENSE", msg, "/card/governance/data_use_terms") if {
	lib.gov_missing("data_use_terms")
	msg := "the terms under which the training data may be used are not declared: set governance.data_use_terms"
}

# SC-SBOM: a high-risk model lists its dependencies (runtime, pre-trained components).
findings contains lib.finding("SC-SBOM", msg, "/card/governance/sbom_ref") if {
	lib.gov_missing("sbom_ref")
	msg := "no software bill of materials: set governance.sbom_ref (CycloneDX or SPDX) for the model and its serving runtime"
}
