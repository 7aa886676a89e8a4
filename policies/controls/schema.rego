# Schema: the model card validates against schemas/model-card.schema.json. Validation runs in
# Python (json.match_schema is not available in rego-cpp); each error arrives in
# input.evidence.schema.errors with the JSON path of the offending field.
package mlgate.controls.schema

import data.mlgate.lib

result := lib.evidence_section("schema")

# SCHEMA-CARD: one finding per schema error, at the path of the field.
findings contains lib.finding("SCHEMA-CARD", msg, path) if {
	some e in lib.arr(object.get(result, "errors", []))
	path := error_path(e)
	msg := lib.format("model card field %s does not match the schema: %v", [path, object.get(lib.obj(e), "message", "invalid")])
}

# Invalid without details still counts.
findings contains lib.finding("SCHEMA-CARD", msg, "/card") if {
	result.valid == false
	count(lib.arr(object.get(result, "errors", []))) == 0
	msg := "the model card does not match schemas/model-card.schema.json"
}

error_path(e) := e.path if {
	is_object(e)
	lib.text(e.path)
} else := "/card"
