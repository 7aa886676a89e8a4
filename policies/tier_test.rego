# Unit tests for the environment and risk-tier logic of lib.rego. They need `with input`,
# which crashes rego-cpp, so they run on OPA only (`opa test`); `mlgate test` reports them as
# skipped on the embedded engine. The YAML cases in policy-tests/ cover the same logic
# end to end on both engines.
package mlgate.tier_test

import data.mlgate.lib

envs := ["production", "staging", "development"]

# --- environment ---------------------------------------------------------------------------

test_known_environment_is_kept if {
	lib.environment == "staging" with input as {"context": {"environment": "staging"}}
		with data.mlgate.params.environments as envs
}

test_unknown_environment_is_production if {
	lib.environment == "production" with input as {"context": {"environment": "prod-eu"}}
		with data.mlgate.params.environments as envs
	lib.is_production with input as {"context": {"environment": "qa"}}
		with data.mlgate.params.environments as envs
}

# --- risk tier ----------------------------------------------------------------------------

tier(governance) := t if {
	t := lib.risk_tier with input as {"card": {"governance": governance}}
}

test_declared_tier_is_used if {
	tier({"risk_tier": "limited"}) == "limited"
}

test_missing_or_invalid_tier_is_unknown if {
	tier({}) == "unknown"
	tier({"risk_tier": "medium"}) == "unknown"
}

test_prohibited_practice_overrides_declared_tier if {
	tier({"risk_tier": "minimal", "prohibited_practices": ["social-scoring"]}) == "prohibited"
}

test_annex_iii_area_makes_high_risk if {
	tier({"risk_tier": "limited", "annex_iii_area": "employment"}) == "high"
}

test_documented_derogation_keeps_declared_tier if {
	tier({
		"risk_tier": "limited",
		"annex_iii_area": "education",
		"art6_3_derogation": {"claimed": true, "assessment_ref": "DEROG-1"},
	}) == "limited"
}

test_undocumented_derogation_is_ignored if {
	tier({"risk_tier": "limited", "annex_iii_area": "education", "art6_3_derogation": {"claimed": true}}) == "high"
}

test_profiling_voids_the_derogation if {
	tier({
		"risk_tier": "limited",
		"annex_iii_area": "employment",
		"art6_3_derogation": {"claimed": true, "assessment_ref": "DEROG-1"},
		"personal_data": {"profiling": true},
	}) == "high"
}

test_unknown_tier_uses_high_parameters if {
	lib.params_tier == "high" with input as {"card": {}}
	lib.params_tier == "high" with input as {"card": {"governance": {"risk_tier": "prohibited"}}}
	lib.params_tier == "minimal" with input as {"card": {"governance": {"risk_tier": "minimal"}}}
}

test_mistyped_governance_reads_as_empty if {
	lib.risk_tier == "unknown" with input as {"card": {"governance": "high"}}
}
