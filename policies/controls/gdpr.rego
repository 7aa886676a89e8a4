# GDPR obligations for models that process personal data (declared in the model card under
# governance.personal_data). Nothing here fires when personal_data.processed is not true,
# except that a card must say whether personal data is processed at all.
package mlgate.controls.gdpr

import data.mlgate.lib

lawful_bases := {"consent", "contract", "legal-obligation", "vital-interests", "public-task", "legitimate-interests"}

# Art. 9(2) conditions under which special categories may be processed; Art. 22(4) allows
# automated decisions on them only under (a) explicit consent or (g) substantial public interest.
special_conditions := {
	"explicit-consent", "employment-social-security", "vital-interests", "not-for-profit-body",
	"made-public-by-data-subject", "legal-claims", "substantial-public-interest",
	"health-or-social-care", "public-health", "archiving-research-statistics",
}

art22_4_conditions := {"explicit-consent", "substantial-public-interest"}

pd := lib.personal

# GDPR-6-LAWFUL-BASIS: personal data is processed on a documented Art. 6(1) basis.
findings contains lib.finding("GDPR-6-LAWFUL-BASIS", msg, "/card/governance/personal_data/processed") if {
	not is_boolean(object.get(pd, "processed", null))
	msg := "the card does not say whether personal data is processed: set governance.personal_data.processed to true or false"
}

findings contains lib.finding("GDPR-6-LAWFUL-BASIS", msg, "/card/governance/personal_data/lawful_basis") if {
	lib.processes_personal_data
	basis := object.get(pd, "lawful_basis", null)
	not basis in lawful_bases
	msg := lib.format("personal data is processed without a valid Art. 6(1) lawful basis (governance.personal_data.lawful_basis is %v)", [lib.show(basis)])
}

# GDPR-9-SPECIAL-CATEGORY: special categories need an Art. 9(2) condition.
findings contains lib.finding("GDPR-9-SPECIAL-CATEGORY", msg, "/card/governance/personal_data/special_category_condition") if {
	lib.processes_special_categories
	condition := object.get(pd, "special_category_condition", null)
	not condition in special_conditions
	cats := lib.join(", ", sort([lib.format("%v", [c]) | some c in lib.special_categories]))
	msg := lib.format("special categories of personal data (%s) are processed without an Art. 9(2) condition (governance.personal_data.special_category_condition is %v)", [cats, lib.show(condition)])
}

# GDPR-35-DPIA: a DPIA for high-risk processing: special categories at scale, automated
# decisions with legal effect, or any high-risk AI system processing personal data.
dpia_reasons contains "special categories of personal data are processed" if lib.processes_special_categories

dpia_reasons contains "automated decisions with legal or similarly significant effect are made" if {
	lib.processes_personal_data
	pd.automated_decision_legal_effect == true
}

dpia_reasons contains "the AI system is high risk and processes personal data" if {
	lib.processes_personal_data
	lib.risk_tier in {"high", "unknown"}
}

findings contains lib.finding("GDPR-35-DPIA", msg, "/card/governance/personal_data/dpia_ref") if {
	count(dpia_reasons) > 0
	not lib.text(object.get(pd, "dpia_ref", null))
	msg := lib.format("a data protection impact assessment is required (%s) but governance.personal_data.dpia_ref is missing", [lib.join("; ", sort(dpia_reasons))])
}

# GDPR-22-AUTOMATED-DECISION: decisions with legal effect need meaningful human review.
findings contains lib.finding("GDPR-22-AUTOMATED-DECISION", msg, "/card/governance/personal_data/human_review") if {
	lib.processes_personal_data
	pd.automated_decision_legal_effect == true
	not pd.human_review == true
	msg := "the model makes automated decisions with legal effect on people without human review (governance.personal_data.human_review must be true, Art. 22(3))"
}

findings contains lib.finding("GDPR-22-AUTOMATED-DECISION", msg, "/card/governance/personal_data/special_category_condition") if {
	lib.processes_special_categories
	pd.automated_decision_legal_effect == true
	not object.get(pd, "special_category_condition", null) in art22_4_conditions
	msg := "automated decisions based on special categories of data are only allowed with explicit consent or substantial public interest (Art. 22(4))"
}

# GDPR-25-LOG-MINIMISATION: inference logs must not hold raw personal data.
findings contains lib.finding("GDPR-25-LOG-MINIMISATION", msg, "/card/governance/personal_data/raw_personal_data_in_logs") if {
	lib.processes_personal_data
	pd.raw_personal_data_in_logs == true
	msg := "raw personal data is written to inference logs; pseudonymise or drop it before logging (Art. 25(1))"
}

findings contains lib.finding("GDPR-25-LOG-MINIMISATION", msg, "/card/governance/personal_data/raw_personal_data_in_logs") if {
	lib.processes_personal_data
	not is_boolean(object.get(pd, "raw_personal_data_in_logs", null))
	msg := "the card does not declare whether raw personal data reaches the logs: set governance.personal_data.raw_personal_data_in_logs"
}

# GDPR-30-ROPA: the processing is in the record of processing activities.
findings contains lib.finding("GDPR-30-ROPA", msg, "/card/governance/personal_data/ropa_ref") if {
	lib.processes_personal_data
	not lib.text(object.get(pd, "ropa_ref", null))
	msg := "the processing is not linked to the record of processing activities: set governance.personal_data.ropa_ref (Art. 30(1))"
}

# GDPR-32-SECURITY: appropriate technical measures.
security_measures := ["encryption_at_rest", "encryption_in_transit", "access_control"]

findings contains lib.finding("GDPR-32-SECURITY", msg, "/card/governance/personal_data/security") if {
	lib.processes_personal_data
	sec := lib.obj(object.get(pd, "security", {}))
	lacking := [m | some m in security_measures; not object.get(sec, m, false) == true]
	count(lacking) > 0
	msg := lib.format("security measures not in place for personal data: %s (governance.personal_data.security)", [lib.join(", ", lacking)])
}

# GDPR-44-TRANSFERS: personal data stays in the EU/EEA, or leaves it under a Chapter V
# mechanism the organisation accepts.
regions := [r | some r in lib.arr(object.get(pd, "storage_regions", []))]

outside_regions := sort([lib.format("%v", [r]) | some r in regions; not r in lib.param(["gdpr", "allowed_regions"], [])])

findings contains lib.finding("GDPR-44-TRANSFERS", msg, "/card/governance/personal_data/storage_regions") if {
	lib.processes_personal_data
	count(regions) == 0
	msg := "the card does not say where personal data is stored: set governance.personal_data.storage_regions"
}

findings contains lib.finding("GDPR-44-TRANSFERS", msg, "/card/governance/personal_data/transfer_mechanism") if {
	lib.processes_personal_data
	count(outside_regions) > 0
	mechanism := object.get(pd, "transfer_mechanism", null)
	not mechanism in lib.param(["gdpr", "allowed_transfer_mechanisms"], [])
	msg := lib.format("personal data is stored outside the EU/EEA (%s) with transfer mechanism %v; one of %s is required (Art. 44-49)", [lib.join(", ", outside_regions), lib.show(mechanism), lib.join(", ", sort(lib.param(["gdpr", "allowed_transfer_mechanisms"], [])))])
}

# GDPR-5-RETENTION: personal data is kept no longer than necessary.
findings contains lib.finding("GDPR-5-RETENTION", msg, "/card/governance/personal_data/retention_days") if {
	lib.processes_personal_data
	not is_number(object.get(pd, "retention_days", null))
	msg := "no retention period for personal data: set governance.personal_data.retention_days (Art. 5(1)(e))"
}

findings contains lib.finding("GDPR-5-RETENTION", msg, "/card/governance/personal_data/retention_days") if {
	lib.processes_personal_data
	days := object.get(pd, "retention_days", null)
	is_number(days)
	maximum := lib.num_param(["gdpr", "max_retention_days"], 1095)
	days > maximum
	msg := lib.format("personal data is kept %s days, longer than the %s days the organisation allows", [lib.val(days), lib.val(maximum)])
}
