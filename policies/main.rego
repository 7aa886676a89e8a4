# The one entrypoint both backends evaluate: mlgate/main/result.
package mlgate.main

import data.mlgate.controls
import data.mlgate.lib

findings contains f if {
	model_reference
	some f in controls.access.findings
}

findings contains f if {
	model_reference
	some f in controls.gdpr.findings
}

findings contains f if {
	model_reference
	some f in controls.highrisk.findings
}

findings contains f if {
	model_reference
	some f in controls.promotion.findings
}

findings contains f if {
	model_reference
	some f in controls.schema.findings
}

findings contains f if {
	model_reference
	some f in controls.supplychain.findings
}

findings contains f if {
	model_reference
	some f in controls.tiering.findings
}

findings contains f if some f in controls.resolution.findings

# Only a named model goes through the controls; an unresolved or undeclared reference, or a
# serving runtime's image, is judged by the resolution controls alone (their finding is the
# root cause, and the card controls have nothing to read).
model_reference if object.get(input.model, "role", "model") == "model"

result := {
	"findings": sort_findings,
	"risk_tier": lib.risk_tier,
	"environment": lib.environment,
}

# sort(): OPA iterates sets in sorted order, the Wasm engine in hash order; the order of the
# findings is the order of the explanation, so it is fixed here for every engine.
sort_findings := sort(findings)
