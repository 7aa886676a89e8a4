# High-risk obligations (EU AI Act Chapter III, Section 2 and 3; Art. 27, 49, 50, 72, 73).
#
# Each rule checks that the evidence an obligation requires is referenced from the model
# card. Which tiers and environments a control applies to is decided by controls.yaml, not
# here: a rule only says what is missing.
package mlgate.controls.highrisk

import data.mlgate.lib

# AIA-9-RISK-MANAGEMENT: the risk management system is documented (Art. 9).
findings contains lib.finding("AIA-9-RISK-MANAGEMENT", msg, "/card/governance/risk_register_ref") if {
	lib.gov_missing("risk_register_ref")
	msg := "no risk register: set governance.risk_register_ref to the Art. 9 risk management record for this model"
}

# AIA-10-DATA-GOVERNANCE: training data is documented and examined for bias (Art. 10(2)).
findings contains lib.finding("AIA-10-DATA-GOVERNANCE", msg, "/card/governance/data_governance/bias_examination_ref") if {
	not lib.section_text("data_governance", "bias_examination_ref")
	msg := "no bias examination: set governance.data_governance.bias_examination_ref (Art. 10(2)(f))"
}

findings contains lib.finding("AIA-10-DATA-GOVERNANCE", msg, "/card/governance/data_governance/datasets_documented") if {
	not lib.section("data_governance").datasets_documented == true
	msg := "training, validation and test data sets are not declared documented: governance.data_governance.datasets_documented must be true"
}

findings contains lib.finding("AIA-10-DATA-GOVERNANCE", msg, "/card/model_parameters/data") if {
	not lists_datasets
	msg := "the card lists no data sets: add model_parameters.data[] with name and link for each training and evaluation set"
}

# AIA-11-TECHNICAL-DOCUMENTATION: Annex IV documentation exists and the card carries its
# core fields.
findings contains lib.finding("AIA-11-TECHNICAL-DOCUMENTATION", msg, "/card/governance/technical_documentation_ref") if {
	lib.gov_missing("technical_documentation_ref")
	msg := "no technical documentation: set governance.technical_documentation_ref to the Annex IV documentation"
}

annex_iv_fields := [
	["model_details", "name"],
	["model_details", "overview"],
	["model_details", "version", "name"],
	["model_parameters", "model_architecture"],
	["quantitative_analysis", "performance_metrics"],
	["considerations", "limitations"],
	["governance", "intended_use"],
]

lists_datasets if {
	datasets := object.get(lib.card, ["model_parameters", "data"], [])
	is_array(datasets)
	count(datasets) > 0
}

# A field counts as documented when it is a non-blank string, a non-empty list or object, a
# number or a boolean; so the undocumented ones are absent, null, blank, [] or {}. (Two
# array comprehensions, no function: see "writing fast Rego" in the policy author guide.)
undocumented_fields := array.concat(
	[field | some field in annex_iv_fields; object.get(lib.card, field, null) in [null, [], {}]],
	[field |
		some field in annex_iv_fields
		v := object.get(lib.card, field, null)
		is_string(v)
		trim_space(v) == ""
	],
)

findings contains lib.finding("AIA-11-TECHNICAL-DOCUMENTATION", msg, path) if {
	some field in undocumented_fields
	dotted := lib.join(".", field)
	path := concat("/", ["/card", concat("/", field)])
	msg := lib.format("Annex IV documentation field %s is missing or empty in the model card", [dotted])
}

# AIA-12-LOGGING: events are recorded automatically over the system's lifetime (Art. 12).
findings contains lib.finding("AIA-12-LOGGING", msg, "/card/governance/logging/enabled") if {
	not lib.section("logging").enabled == true
	msg := "automatic inference logging is not enabled: governance.logging.enabled must be true (Art. 12(1))"
}

# AIA-19-LOG-RETENTION: logs are kept at least six months (Art. 19(1), Art. 26(6)).
findings contains lib.finding("AIA-19-LOG-RETENTION", msg, "/card/governance/logging/retention_days") if {
	not is_number(object.get(lib.section("logging"), "retention_days", null))
	msg := lib.format("governance.logging.retention_days is not set; logs must be kept at least %s days", [lib.val(min_log_retention)])
}

findings contains lib.finding("AIA-19-LOG-RETENTION", msg, "/card/governance/logging/retention_days") if {
	days := lib.section("logging").retention_days
	is_number(days)
	minimum := min_log_retention
	days < minimum
	msg := lib.format("logs are kept %s days, less than the required %s days", [lib.val(days), lib.val(minimum)])
}

min_log_retention := lib.num_param(["logging", "min_retention_days"], 180)

# AIA-13-INSTRUCTIONS: deployers get instructions for use (Art. 13).
findings contains lib.finding("AIA-13-INSTRUCTIONS", msg, "/card/governance/instructions_for_use_ref") if {
	lib.gov_missing("instructions_for_use_ref")
	msg := "no instructions for use: set governance.instructions_for_use_ref (Art. 13(2))"
}

# AIA-14-HUMAN-OVERSIGHT: an oversight mode and a named natural person (Art. 14, 26(2)).
oversight_modes := {"human-in-the-loop", "human-on-the-loop", "human-in-command"}

findings contains lib.finding("AIA-14-HUMAN-OVERSIGHT", msg, "/card/governance/human_oversight/mode") if {
	mode := object.get(lib.section("human_oversight"), "mode", null)
	not mode in oversight_modes
	msg := lib.format("human oversight mode is %v; set governance.human_oversight.mode to human-in-the-loop, human-on-the-loop or human-in-command", [lib.show(mode)])
}

findings contains lib.finding("AIA-14-HUMAN-OVERSIGHT", msg, "/card/governance/human_oversight/owner") if {
	not lib.section_text("human_oversight", "owner")
	msg := "no person is assigned to human oversight: set governance.human_oversight.owner"
}

# AIA-15-ACCURACY: the card declares the accuracy levels the gate checks (Art. 15(3)), and
# does not claim more than the attested evaluation measured.

# The metrics the promotion gate requires for this tier (params metrics.min), as an array.
gated_metrics := [name | some name; threshold := metric_min[name]; is_number(threshold)]

metric_min := m if {
	m := lib.metric_thresholds("min")
	is_object(m)
} else := {}

# The overall (unsliced) levels the card declares, as [metric, value] pairs, read once. The
# Model Card Toolkit writes values as strings, so numeric strings count. (The lower-cased
# name is only compared, never printed: rego-cpp's sprintf would quote a lower() result.)
#
# Without function calls in the loop (lib.num(x) is written out as its two cases).
declared_levels := array.concat(
	[[name, value] |
		some i
		m := overall[i]
		value := m.value
		is_number(value)
		name := lower(m.type)
	],
	[[name, value] |
		some i
		m := overall[i]
		is_string(m.value)
		regex.match(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`, m.value)
		value := to_number(m.value)
		name := lower(m.type)
	],
)

performance_metrics := m if {
	m := object.get(lib.card, ["quantitative_analysis", "performance_metrics"], [])
	is_array(m)
} else := []

# The unsliced entries with a string type (a blank slice counts as none).
overall := [m |
	some i
	m := performance_metrics[i]
	is_object(m)
	is_string(object.get(m, "type", null))
	not i in sliced
]

sliced := [i |
	some i
	s := performance_metrics[i].slice
	is_string(s)
	trim_space(s) != ""
]

declared_metrics := [name | some pair in declared_levels; name := pair[0]]

findings contains lib.finding("AIA-15-ACCURACY", msg, "/card/quantitative_analysis/performance_metrics") if {
	some name in gated_metrics
	not name in declared_metrics
	msg := lib.format("the card declares no overall %s level in quantitative_analysis.performance_metrics (Art. 15(3) requires the accuracy levels to be declared)", [name])
}

findings contains lib.finding("AIA-15-ACCURACY", msg, "/card/quantitative_analysis/performance_metrics") if {
	some name in gated_metrics
	some pair in declared_levels
	pair[0] == name
	measured := measured_upper[name]
	pair[1] > measured + declared_tolerance
	msg := lib.format("the card declares %s %s but the attested evaluation measured at most %s", [name, lib.val(pair[1]), lib.val(measured)])
}

declared_tolerance := lib.num_param(["metrics", "declared_tolerance"], 0.01)

# The best value the evaluation supports per metric: the CI upper bound, else the point
# estimate (object.union: the right-hand value wins).
measured_upper := object.union(
	{name: v | some name; v := metrics_evidence[name].value; is_number(v)},
	{name: v | some name; v := metrics_evidence[name].ci_high; is_number(v)},
)

metrics_evidence := lib.evidence_section("metrics")

# AIA-17-QMS-CHANGE: every change goes through the quality management system (Art. 17).
findings contains lib.finding("AIA-17-QMS-CHANGE", msg, "/card/governance/qms_change_ref") if {
	lib.gov_missing("qms_change_ref")
	msg := "no QMS change record: set governance.qms_change_ref to the change request that approved this version (Art. 17(1))"
}

# AIA-27-FRIA: a fundamental rights impact assessment where one is required (Art. 27).
findings contains lib.finding("AIA-27-FRIA", msg, "/card/governance/fria/ref") if {
	lib.section("fria").required == true
	not lib.section_text("fria", "ref")
	msg := "a fundamental rights impact assessment is required but governance.fria.ref is missing"
}

findings contains lib.finding("AIA-27-FRIA", msg, "/card/governance/fria/required") if {
	area := lib.annex_iii_area
	area in fria_areas
	not lib.section("fria").required == true
	msg := lib.format("Annex III area '%s' requires a fundamental rights impact assessment (Art. 27(1)); set governance.fria.required and governance.fria.ref", [area])
}

fria_areas := lib.param(["fria", "required_areas"], [])

# AIA-49-REGISTRATION: high-risk systems, and Annex III systems relying on the Art. 6(3)
# derogation, are registered in the EU database before use (Art. 49(1) and 49(2)).
must_register if lib.risk_tier in {"high", "unknown"}

must_register if {
	lib.derogation_claimed
	lib.annex_iii_area
}

findings contains lib.finding("AIA-49-REGISTRATION", msg, "/card/governance/eu_database_registration_id") if {
	must_register
	lib.gov_missing("eu_database_registration_id")
	msg := lib.format("no EU database registration: set governance.eu_database_registration_id (required for %s systems)", [registration_reason])
}

registration_reason := "Annex III systems claiming the Art. 6(3) derogation" if {
	lib.derogation_claimed
	lib.annex_iii_area
	not lib.risk_tier in {"high", "unknown"}
} else := "high-risk"

# AIA-72-POST-MARKET: a post-market monitoring plan (Art. 72).
findings contains lib.finding("AIA-72-POST-MARKET", msg, "/card/governance/post_market_monitoring_plan_ref") if {
	lib.gov_missing("post_market_monitoring_plan_ref")
	msg := "no post-market monitoring plan: set governance.post_market_monitoring_plan_ref (Art. 72(3))"
}

# AIA-73-INCIDENT: who reports serious incidents, and how (Art. 73).
findings contains lib.finding("AIA-73-INCIDENT", msg, "/card/governance/incident/contact") if {
	not lib.section_text("incident", "contact")
	msg := "no serious-incident contact: set governance.incident.contact (Art. 73)"
}

findings contains lib.finding("AIA-73-INCIDENT", msg, "/card/governance/incident/runbook_ref") if {
	not lib.section_text("incident", "runbook_ref")
	msg := "no incident runbook: set governance.incident.runbook_ref (Art. 73)"
}

# AIA-50-TRANSPARENCY: people are told they interact with an AI system, and generated
# content is marked (Art. 50(1), 50(2)); this applies to every tier.
findings contains lib.finding("AIA-50-TRANSPARENCY", msg, "/card/governance/transparency_disclosure") if {
	kinds := [k | some k in ["interactive", "generative"]; lib.governance[k] == true]
	count(kinds) > 0
	lib.gov_missing("transparency_disclosure")
	msg := lib.format("the system is %s but governance.transparency_disclosure is missing (Art. 50)", [lib.join(" and ", kinds)])
}

# A model served by an LLM runtime generates content and talks to people, whatever the
# card's interactive/generative flags say: the deployment, not the card, decides.
findings contains lib.finding("AIA-50-TRANSPARENCY", msg, "/card/governance/transparency_disclosure") if {
	lib.llm_served
	not lib.governance.interactive == true
	not lib.governance.generative == true
	lib.gov_missing("transparency_disclosure")
	msg := lib.format("the model is served by the LLM runtime %s, so it is generative and interactive whatever the card says, but governance.transparency_disclosure is missing (Art. 50)", [runtime_name])
}

runtime_name := lib.show(input.model.runtime) if lib.text(input.model.runtime)

else := lib.format("for format %s", [lib.show(input.model.format)])
