# Supply chain: signed, trusted, digest-pinned models with a signed governance attestation
# (AI Act Art. 15(5); OpenSSF model signing; in-toto attestations).
#
# Signatures are verified in Python (mlgate.evidence); the policy sees the verdict and the
# facts (identity, subject digest) and decides what is acceptable.
package mlgate.controls.supplychain

import data.mlgate.controls.access
import data.mlgate.lib

sig := lib.obj(input.signature)

att := lib.obj(input.attestation)

bind := lib.obj(object.get(input, "binding", {}))

component := c if {
	c := input.request.component
	lib.text(c)
} else := "model"

# SC-SIGNED: the model carries a signature and it verifies.
findings contains lib.finding("SC-SIGNED", msg, "/signature") if {
	not sig.present == true
	not bind.evidence == "none"
	msg := "model is not signed: no mlgate.io/signature or mlgate.io/signature-ref on the object"
}

# A reference with no evidence of its own: an object with several models states each one's
# digest and signature in mlgate.io/models; object-wide annotations do not cover it.
findings contains lib.finding("SC-SIGNED", msg, "/binding/evidence") if {
	not sig.present == true
	bind.evidence == "none"
	msg := lib.format("model %s (%s) is not signed: it has no evidence of its own; an object with several models states each one's digest, signature and attestation in the mlgate.io/models annotation", [lib.show(input.model.uri), component])
}

findings contains lib.finding("SC-SIGNED", msg, "/signature") if {
	sig.present == true
	not sig.verified == true
	not sig.unknown_signer == true
	msg := lib.format("model signature does not verify: %v", [reason(sig)])
}

reason(v) := v.error if lib.text(v.error)

else := "unknown error"

# SC-TRUSTED-SIGNER: a valid signature by an identity trust.yaml does not list is still
# anyone's signature.
findings contains lib.finding("SC-TRUSTED-SIGNER", msg, "/signature/identity") if {
	sig.verified == true
	not sig.trusted == true
	msg := lib.format("model is signed by %s, which is not a trusted model signer for this environment in trust.yaml", [signer(sig)])
}

# A key trust.yaml does not list: the signature cannot even be checked, and the root cause
# is the untrusted signer, not a broken signature.
findings contains lib.finding("SC-TRUSTED-SIGNER", msg, "/signature/identity") if {
	sig.present == true
	not sig.verified == true
	sig.unknown_signer == true
	msg := lib.format("model is signed by %s, which is not a trusted model signer in trust.yaml", [signer(sig)])
}

# signer(v) names who signed: the identity, and the OIDC issuer only when there is one
# (key-based signers have none).
signer(v) := lib.format("%s (issuer %s)", [v.identity, v.issuer]) if {
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
	msg := lib.format("the signature covers %v but the object declares mlgate.io/model-digest %v", [subject, lib.declared_digest])
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
	msg := lib.format("model URI %s is mutable (scheme %v) and the object declares no mlgate.io/model-digest", [input.model.uri, scheme])
}

findings contains lib.finding("SC-DIGEST-PINNED", msg, "/model/declared_digest") if {
	digest := lib.declared_digest
	not regex.match(`^sha256:[0-9a-f]{64}$`, digest)
	msg := lib.format("mlgate.io/model-digest '%s' is not of the form sha256:<64 lowercase hex digits>", [digest])
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
	msg := lib.format("the model signature uses a legacy format without a root digest (predicate %v); re-sign with mlgate sign", [object.get(sig, "predicate_type", null)])
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
	msg := lib.format("the governance attestation does not verify: %v", [reason(att)])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/identity") if {
	att.present == true
	not att.verified == true
	att.unknown_signer == true
	msg := lib.format("the governance attestation is signed by %s, which is not the promotion identity trusted in trust.yaml", [signer(att)])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/identity") if {
	att.verified == true
	not att.trusted == true
	msg := lib.format("the governance attestation is signed by %s, which is not the promotion identity trusted in trust.yaml", [signer(att)])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/predicate_type") if {
	att.verified == true
	object.get(att, "predicate_type", null) != governance_predicate
	msg := lib.format("the attestation predicate type is %v, expected %s", [lib.show(object.get(att, "predicate_type", null)), governance_predicate])
}

findings contains lib.finding("SC-ATTESTED", msg, "/attestation/subject_digest") if {
	att.verified == true
	lib.declared_digest
	object.get(att, "subject_digest", null) != lib.declared_digest
	msg := lib.format("the governance attestation is about %v, not about the deployed model %v", [object.get(att, "subject_digest", null), lib.declared_digest])
}

# SC-URI-BOUND: the governance attestation was issued for the URI that is deployed. Evidence
# copied from an approved object onto one that loads something else is not about it.
findings contains lib.finding("SC-URI-BOUND", msg, "/binding/uri_attested") if {
	att.trusted == true
	not bind.uri_attested == true
	count(lib.arr(object.get(bind, "attested_uris", []))) > 0
	msg := lib.format("expected %s, attested %s: the governance attestation was not issued for the deployed URI%s", [
		trim_space(deployed_uri),
		lib.join(", ", sort(lib.arr(bind.attested_uris))),
		local_copy_hint,
	])
}

# A server reading a local directory is judged as the URI its pod-start verifier names.
local_copy_hint := lib.format(" (container %s reads the local path %s: name the URI it was fetched from with the pod-start verifier's --storage-uri)", [lib.show(loads.container), loads.path]) if {
	is_string(object.get(loads, "path", null))
	object.get(loads, "uri", null) == input.model.uri
} else := ""

findings contains lib.finding("SC-URI-BOUND", msg, "/binding/attested_uris") if {
	att.trusted == true
	count(lib.arr(object.get(bind, "attested_uris", []))) == 0
	msg := lib.format("the governance attestation names no model URI, so it cannot be bound to the deployed URI %s; re-attest with mlgate attest --model-uri", [lib.show(deployed_uri)])
}

deployed_uri := u if {
	u := bind.uri
	is_string(u)
} else := input.model.uri

# SC-URI-DIGEST: a digest written into the URI (oci://...@sha256:) is the digest deployed;
# it must be the declared digest, which the signature and attestation name.
findings contains lib.finding("SC-URI-DIGEST", msg, "/model/uri_digest") if {
	pinned := object.get(input.model, "uri_digest", null)
	is_string(pinned)
	startswith(pinned, "sha256:")
	lib.declared_digest
	pinned != lib.declared_digest
	msg := lib.format("the URI pins %s but the declared mlgate.io/model-digest is %s (expected %s, deployed %s)", [pinned, lib.declared_digest, lib.declared_digest, pinned])
}

# SC-POD-START-VERIFY: the bytes behind a mutable reference are checked when the pod starts,
# against the digest admitted here, in the place the server reads them, and nothing can change
# them afterwards. Content-addressed references need no such step. (Shapes that count:
# docs/operator-guide.md, "Pod-start verification".)
verifier_images := lib.arr(lib.param(["supply_chain", "verifier_images"], []))

verifier_digests := lib.arr(lib.param(["supply_chain", "verifier_image_digests"], []))

kserve_verified_prefixes := lib.arr(lib.param(["supply_chain", "kserve_verified_uri_prefixes"], []))

pod_start_steps := lib.arr(object.get(bind, "pod_start_steps", []))

# Init containers in the pod template; KServe's storage initializer is injected into pods.
template_steps := [s |
	some s in pod_start_steps
	not s.kserve_storage_initializer == true
]

# The steps that check what this reference's server reads; every step when none does (each
# is then reported with the reason it does not).
relevant_steps := serving if {
	serving := [s | some s in template_steps; s.serves == true]
	count(serving) > 0
} else := template_steps

# A ModelManifest (CI) describes a model, not a pod: the Kubernetes object is checked.
needs_pod_start if {
	not bind.content_addressed == true
	input.request.kind != "ModelManifest"
}

pod_start_verified if {
	some step in template_steps
	object.get(step, "image_repository", "") in verifier_images
	checks_admitted_digest(step)
	count(ungated(step)) == 0
	count(problems_of(step)) == 0
}

checks_admitted_digest(step) if {
	lib.declared_digest
	object.get(step, "expect_digest", null) == lib.declared_digest
}

# Why a verifier step does not gate the server: it is a sidecar (the server starts beside
# it, pass or fail), or an init container other than a trusted verifier runs after it and
# can rewrite the bytes it checked.
verifier_containers := [st.container |
	some st in pod_start_steps
	object.get(st, "image_repository", "") in verifier_images
]

ungated(step) := array.concat(
	["it is a sidecar (restartPolicy is set)" | object.get(step, "blocks_start", true) == false],
	[lib.format("init container %s runs after it", [lib.show(name)]) |
		some name in lib.arr(object.get(step, "followed_by", []))
		not name in verifier_containers
	],
)

# Why a verifier step does not prove what the server runs, one entry per mismatch.
problems_of(step) := [msg | some [name, msg] in step_problem; name == step.container]

loads := lib.obj(object.get(bind, "loads", {}))

location(step) := lib.obj(object.get(step, "location", {}))

scope(step) := lib.obj(object.get(step, "scope", {}))

# The server reads another place than the one checked.
step_problem contains [step.container, msg] if {
	some step in template_steps
	not step.serves == true
	msg := not_served(step)
}

not_served(step) := lib.format("mlgate sees no container reading %s, so no check can be tied to it", [lib.show(deployed_uri)]) if {
	not is_string(object.get(loads, "container", null))
} else := lib.format("container %s loads %s itself, not the directory %s that %s verified: point its model argument at %s", [
	lib.show(loads.container), loads.uri, lib.show(object.get(step, "model_dir", "")),
	lib.show(step.container), lib.show(object.get(step, "model_dir", "")),
]) if {
	not is_string(object.get(loads, "path", null))
} else := lib.format("%s verifies %v, which is not on a volume the server can mount", [lib.show(step.container), object.get(step, "model_dir", null)]) if {
	not is_string(object.get(location(step), "volume", null))
} else := lib.format("container %s loads %s from its own image filesystem, not the volume %s that %s verified", [
	lib.show(loads.container), loads.path, lib.show(location(step).volume), lib.show(step.container),
]) if {
	not is_string(object.get(loads, "volume", null))
} else := lib.format("container %s loads %s (volume %s, path %v), but %s verified %v (volume %s, path %v)", [
	lib.show(loads.container), loads.path, lib.show(loads.volume), object.get(loads, "volume_path", null),
	lib.show(step.container), object.get(step, "model_dir", null),
	lib.show(location(step).volume), object.get(location(step), "volume_path", null),
])

pod_private_volumes := {"emptyDir"}

# A volume something outside the pod can write (a claim, a host path, NFS) can change
# between the check and the server reading it.
step_problem contains [step.container, msg] if {
	some step in template_steps
	volume := location(step).volume
	is_string(volume)
	kind := object.get(location(step), "volume_type", null)
	not kind in pod_private_volumes
	msg := lib.format("the verified volume %s is %v, which something outside the pod can change after the check: copy the model into an emptyDir and verify the copy", [lib.show(volume), kind])
}

# Nothing in the pod may write the verified volume after the check.
step_problem contains [step.container, msg] if {
	some step in template_steps
	some writer in lib.arr(object.get(step, "writers", []))
	msg := lib.format("container %s mounts the verified volume %s writable at %s after the check: mount it readOnly", [
		lib.show(writer.container), lib.show(location(step).volume), writer.mount_path,
	])
}

# A tag can be moved to another build of the verifier (or to anything at all).
step_problem contains [step.container, msg] if {
	some step in template_steps
	not step.image_pinned == true
	msg := lib.format("its image %s is not pinned by digest (@sha256:), so the tag can be moved to another build: pin it", [lib.show(object.get(step, "image", ""))])
}

step_problem contains [step.container, msg] if {
	some step in template_steps
	step.image_pinned == true
	count(verifier_digests) > 0
	not step.image_digest in verifier_digests
	msg := lib.format("its image digest %v is not a trusted verifier build (supply_chain.verifier_image_digests: %s)", [step.image_digest, lib.join(", ", sort(verifier_digests))])
}

# The check trusts the image's own trust policy, with nothing left out, in this pod's scope.
step_problem contains [step.container, msg] if {
	some step in template_steps
	object.get(step, "policies", null) != object.get(step, "image_policies", "")
	msg := lib.format("it trusts the policy directory %v, not the verifier image's own %v (--policies / MLGATE_POLICIES)", [object.get(step, "policies", null), object.get(step, "image_policies", null)])
}

step_problem contains [step.container, msg] if {
	some step in template_steps
	overrides := lib.arr(object.get(step, "overrides", []))
	count(overrides) > 0
	msg := lib.format("its options %s replace what it trusts or leave files unchecked", [lib.join(", ", overrides)])
}

# `mlgate verify` defaults to production's trust (the reference); another environment than
# production or the pod's own may trust signers this one does not.
step_problem contains [step.container, msg] if {
	some step in template_steps
	scope_env := object.get(scope(step), "environment", null)
	not scope_env in {input.context.environment, "production"}
	msg := lib.format("it evaluates trust.yaml for environment %s, not %s (--environment / MLGATE_ENVIRONMENT)", [lib.show(scope_env), lib.show(input.context.environment)])
}

step_problem contains [step.container, msg] if {
	some step in template_steps
	scope_ns := object.get(scope(step), "namespace", null)
	scope_ns != input.request.namespace
	msg := lib.format("it evaluates trust.yaml for namespace %s, not %s: set POD_NAMESPACE from the downward API (fieldRef metadata.namespace)", [lib.show(scope_ns), lib.show(input.request.namespace)])
}

# KServe: the storage initializer replaced by the verifying ClusterStorageContainer
# (webhook/verifier/) for these URI prefixes, configured by the platform team; on the
# InferenceService and on the pod templates KServe makes for it.
pod_start_verified if {
	kserve_storage_initializer
	some prefix in kserve_verified_prefixes
	startswith(deployed_uri, prefix)
}

# KServe copies a content-addressed model (oci://...@sha256:) into the pods it makes.
pod_start_verified if {
	kserve_storage_initializer
	bind.uri_content_addressed == true
}

kserve_storage_initializer if input.request.kind == "InferenceService"

# The source-URI annotation is KServe's to write: on a template a person submits, nothing
# injects (or verifies) the download into /mnt/models.
kserve_storage_initializer if {
	some step in pod_start_steps
	step.kserve_storage_initializer == true
	access.controller_child
}

digest_hint := lib.declared_digest if lib.declared_digest

else := "<mlgate.io/model-digest>"

findings contains lib.finding("SC-POD-START-VERIFY", msg, "/binding/pod_start_steps") if {
	needs_pod_start
	not pod_start_verified
	count(template_steps) == 0
	msg := lib.format("model URI %s is mutable and nothing verifies its bytes at pod start: add an init container running `mlgate verify --expect-digest %s` (image %s)", [
		lib.show(deployed_uri),
		digest_hint,
		lib.join(" or ", sort(verifier_images)),
	])
}

findings contains lib.finding("SC-POD-START-VERIFY", msg, "/binding/pod_start_steps") if {
	needs_pod_start
	not pod_start_verified
	some step in relevant_steps
	not object.get(step, "image_repository", "") in verifier_images
	msg := lib.format("init container %s verifies with image %s, which is not a configured verifier image (%s)", [
		lib.show(object.get(step, "container", "")),
		lib.show(object.get(step, "image", "")),
		lib.join(", ", sort(verifier_images)),
	])
}

findings contains lib.finding("SC-POD-START-VERIFY", msg, "/binding/pod_start_steps") if {
	needs_pod_start
	not pod_start_verified
	some step in relevant_steps
	object.get(step, "image_repository", "") in verifier_images
	checks_admitted_digest(step)
	reasons := ungated(step)
	count(reasons) > 0
	msg := lib.format("the pod-start verifier %s does not gate the model server: %s; make it a regular init container and the last one", [
		lib.show(object.get(step, "container", "")),
		lib.join("; ", reasons),
	])
}

findings contains lib.finding("SC-POD-START-VERIFY", msg, "/binding/pod_start_steps") if {
	needs_pod_start
	not pod_start_verified
	some step in relevant_steps
	object.get(step, "image_repository", "") in verifier_images
	not checks_admitted_digest(step)
	msg := lib.format("the pod-start verifier %s checks %v, not the admitted digest %v (expected %v)", [
		lib.show(object.get(step, "container", "")),
		object.get(step, "expect_digest", null),
		object.get(input.model, "declared_digest", null),
		object.get(input.model, "declared_digest", null),
	])
}

findings contains lib.finding("SC-POD-START-VERIFY", msg, "/binding/pod_start_steps") if {
	needs_pod_start
	not pod_start_verified
	some step in relevant_steps
	object.get(step, "image_repository", "") in verifier_images
	problems := problems_of(step)
	count(problems) > 0
	msg := lib.format("the pod-start verifier %s does not prove what runs as %s: %s", [
		lib.show(object.get(step, "container", "")),
		lib.show(deployed_uri),
		lib.join("; ", problems),
	])
}

# SC-ATTESTATION-FRESH: a governance attestation vouches for the state of a model at one
# time; it is not valid before it was made, and not forever after.
attested_at := object.get(lib.obj(object.get(input.evidence, "timeline", {})), "attested_at_ns", null)

max_attestation_age_days := lib.param(["supply_chain", "attestation_max_age_days"], 365)

clock_skew_ns := lib.param(["supply_chain", "attestation_clock_skew_seconds"], 300) * 1000000000

findings contains lib.finding("SC-ATTESTATION-FRESH", msg, "/attestation/predicate/created_at") if {
	att.trusted == true
	not is_number(attested_at)
	msg := "the governance attestation has no valid created_at, so its age cannot be checked"
}

findings contains lib.finding("SC-ATTESTATION-FRESH", msg, "/attestation/predicate/created_at") if {
	att.trusted == true
	is_number(attested_at)
	attested_at > lib.now_ns + clock_skew_ns
	msg := lib.format("the governance attestation is dated in the future (%s); refusing it", [lib.date(attested_at)])
}

findings contains lib.finding("SC-ATTESTATION-FRESH", msg, "/attestation/predicate/created_at") if {
	att.trusted == true
	is_number(attested_at)
	is_number(max_attestation_age_days)
	age := lib.days(lib.now_ns - attested_at)
	age > max_attestation_age_days
	msg := lib.format("the governance attestation is %s days old (created %s); the maximum for %s-risk models is %s days: re-attest after a fresh review", [
		lib.val(age),
		lib.date(attested_at),
		lib.risk_tier,
		lib.val(max_attestation_age_days),
	])
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
