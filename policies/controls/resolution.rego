# Model resolution: every model a workload loads is named, or the workload is not admitted.
#
# The subject adapters report a reference they cannot name as model.role "unresolved" (with
# the reason), a workload that must declare its models and does not as "undeclared", and a
# serving runtime's image as "runtime-image". Only these controls judge such references
# (main.rego); a named model (role "model") goes through every control.
package mlgate.controls.resolution

import data.mlgate.lib

role := r if {
	r := input.model.role
	is_string(r)
} else := "model"

reason := r if {
	r := input.model.unresolved_reason
	lib.text(r)
}

else := "no reason recorded"

# SC-MODEL-RESOLVED: a model server (or a model field) whose model cannot be named.
findings contains lib.finding("SC-MODEL-RESOLVED", msg, "/model/uri") if {
	role == "unresolved"
	msg := lib.format("%s loads a model mlgate cannot name: %s", [component, reason])
}

component := c if {
	c := input.request.component
	lib.text(c)
}

else := "the object"

# SC-MODEL-DECLARED: the namespace requires every workload to declare its models.
findings contains lib.finding("SC-MODEL-DECLARED", msg, "/request/annotations") if {
	role == "undeclared"
	msg := lib.format("%s declares no model (mlgate.io/model-uri or mlgate.io/models), and namespace %s requires it", [
		input.request.kind, lib.show(input.request.namespace),
	])
}

# SC-RUNTIME-PINNED: a serving runtime image that a tag can move.
findings contains lib.finding("SC-RUNTIME-PINNED", msg, "/model/uri") if {
	role == "runtime-image"
	not regex.match(`@sha256:[0-9a-f]{64}$`, input.model.uri)
	msg := lib.format("runtime image %s (%s) is not pinned by digest", [lib.show(input.model.uri), component])
}
