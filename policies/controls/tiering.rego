# Risk tiering (EU AI Act Art. 5, Art. 6 and Annex III).
#
# The tier decides which obligations apply, so it must be declared, consistent with what the
# system does (Annex III area, prohibited practices) and, in production, proven by the signed
# governance attestation rather than asserted by whoever writes the deployment.
package mlgate.controls.tiering

import data.mlgate.lib

# TIER-DECLARED: a card without a valid risk tier cannot be scoped.
findings contains lib.finding("TIER-DECLARED", msg, "/card/governance/risk_tier") if {
	lib.gov("risk_tier") == null
	msg := "the model card declares no governance.risk_tier (prohibited, high, limited or minimal); mlgate treats the model as high risk"
}

findings contains lib.finding("TIER-DECLARED", msg, "/card/governance/risk_tier") if {
	tier := lib.gov("risk_tier")
	tier != null
	not tier in lib.tiers
	msg := lib.format("governance.risk_tier %v is not one of prohibited, high, limited, minimal", [lib.show(tier)])
}

# TIER-ATTESTED: the tier (and the whole card) must come from a trusted governance
# attestation; a declared card lets the deployer choose its own obligations.
findings contains lib.finding("TIER-ATTESTED", msg, "/card_source") if {
	not lib.card_trusted
	source := object.get(input, "card_source", "none")
	msg := lib.format("the risk tier '%s' comes from a card with source '%s', not from a trusted governance attestation (mlgate.io/attestation)", [lib.risk_tier, source])
}

# The attestation and a declared card must not disagree about the tier.
findings contains lib.finding("TIER-ATTESTED", msg, "/card/governance/risk_tier") if {
	input.attestation.trusted == true
	attested := input.attestation.predicate.card.governance.risk_tier
	is_string(attested)
	lib.declared_tier
	attested != lib.declared_tier
	msg := lib.format("the card declares risk tier '%s' but the governance attestation says '%s'", [lib.declared_tier, attested])
}

# TIER-PROHIBITED: AI Act Art. 5 practices may not be deployed anywhere.
findings contains lib.finding("TIER-PROHIBITED", msg, "/card/governance/prohibited_practices") if {
	count(lib.prohibited_practices) > 0
	names := sort([lib.format("%v", [p]) | some p in lib.prohibited_practices])
	msg := lib.format("the model card lists prohibited AI practices (AI Act Art. 5): %s", [lib.join(", ", names)])
}

findings contains lib.finding("TIER-PROHIBITED", msg, "/card/governance/risk_tier") if {
	lib.declared_tier == "prohibited"
	msg := "the model card declares risk_tier prohibited; such a system may not be placed on the market or put into service"
}

# TIER-ANNEX-III: an Annex III use case is high risk unless a documented Art. 6(3)
# derogation applies; a lower declared tier is a misclassification.
findings contains lib.finding("TIER-ANNEX-III", msg, "/card/governance/risk_tier") if {
	area := lib.annex_iii_area
	not lib.valid_derogation
	lib.declared_tier != "high"
	lib.declared_tier != "prohibited"
	msg := lib.format("Annex III area '%s' makes the model high risk, but the card declares risk tier '%s' (and no documented Art. 6(3) derogation)", [area, lib.declared_tier])
}

findings contains lib.finding("TIER-ANNEX-III", msg, "/card/governance/risk_tier") if {
	area := lib.annex_iii_area
	not lib.valid_derogation
	not lib.declared_tier
	msg := lib.format("Annex III area '%s' makes the model high risk, but the card declares no valid risk tier", [area])
}

# TIER-DEROGATION: claiming Art. 6(3) needs the documented assessment (Art. 6(4)).
findings contains lib.finding("TIER-DEROGATION", msg, "/card/governance/art6_3_derogation/assessment_ref") if {
	lib.derogation_claimed
	not lib.section_text("art6_3_derogation", "assessment_ref")
	msg := "an Art. 6(3) derogation is claimed without governance.art6_3_derogation.assessment_ref; the model is treated as high risk"
}

# Art. 6(3), last subparagraph: a system that profiles natural persons is always high risk.
findings contains lib.finding("TIER-DEROGATION", msg, "/card/governance/personal_data/profiling") if {
	lib.derogation_claimed
	lib.annex_iii_area
	lib.profiling
	msg := lib.format("an Art. 6(3) derogation cannot apply: the model profiles natural persons (governance.personal_data.profiling) in Annex III area '%s'", [lib.annex_iii_area])
}

# TIER-ANNEX-III: the card's own description of what the model is for names an Annex III
# use while the card claims minimal or limited risk and no Annex III area. mlgate matches the
# purpose text against params.yaml classification.annex_iii_terms (evidence.classification),
# so a misclassification cannot hide behind an empty annex_iii_area field.
purpose_matches := [pair |
	some pair in lib.arr(object.get(lib.evidence_section("classification"), "annex_iii_matches", []))
	is_array(pair)
	count(pair) == 2
]

findings contains lib.finding("TIER-ANNEX-III", msg, "/card/governance/intended_use") if {
	lib.declared_tier in {"minimal", "limited"}
	not lib.annex_iii_area
	not lib.valid_derogation
	count(purpose_matches) > 0
	areas := sort({lib.format("%v", [pair[0]]) | some pair in purpose_matches})
	terms := sort({lib.format("'%v'", [pair[1]]) | some pair in purpose_matches})
	msg := lib.format("the intended purpose mentions %s, an Annex III use (%s), but the card declares risk tier '%s' and no governance.annex_iii_area; classify it as high risk or attach a signed Art. 6(3) derogation assessment", [lib.join(", ", terms), lib.join(", ", areas), lib.declared_tier])
}
