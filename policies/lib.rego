# Shared helpers for every control. Policies read the canonical input (schemas/input.schema.json)
# and the resolved parameters; they never see raw Kubernetes objects.
package mlgate.lib

tiers := {"prohibited", "high", "limited", "minimal"}

known_environments := {env | some env in data.mlgate.params.environments}

# Unknown environments are treated as production: a typo must not relax the rules.
environment := input.context.environment if {
	input.context.environment in known_environments
} else := "production"

is_production if environment == "production"

governance := object.get(input.card, "governance", {})

declared_tier := governance.risk_tier if governance.risk_tier in tiers

annex_iii_area := governance.annex_iii_area if {
	is_string(governance.annex_iii_area)
	governance.annex_iii_area != ""
}

derogation_claimed if governance.art6_3_derogation.claimed == true

prohibited_practice if count(object.get(governance, "prohibited_practices", [])) > 0

# The effective tier: prohibited practices and Annex III areas override what was declared
# (AI Act Art. 5 and 6); a valid Art. 6(3) derogation keeps a declared lower tier.
risk_tier := "prohibited" if {
	prohibited_practice
} else := "high" if {
	annex_iii_area
	not derogation_claimed
} else := declared_tier if {
	declared_tier
} else := "unknown"

# Parameters for this decision: the strictest ("high") set when the tier is unknown.
params_tier := risk_tier if risk_tier in {"high", "limited", "minimal"}

else := "high"

params := data.mlgate.params.resolved[params_tier][environment]

card_trusted if input.card_source == "attestation"

personal := object.get(governance, "personal_data", {})

processes_personal_data if personal.processed == true

missing(obj, key) if not obj[key]

missing(obj, key) if obj[key] == ""

finding(control, message, path) := {"control": control, "message": message, "path": path}
