# Access: who may deploy which risk tier where. Kubernetes authenticates the user; the
# admission request carries userInfo (username, groups), and params.yaml lists the groups
# allowed per environment and risk tier (access.allowed_groups).
package mlgate.controls.access

import data.mlgate.lib

# Arrays, not sets: building a set costs far more in rego-cpp; listing() dedups for messages.
allowed_groups := lib.arr(lib.param(["access", "allowed_groups"], []))

# Only strings can name a group: anything else in the list is ignored (and cannot break the
# message: concat of a non-string is an error on OPA and undefined on the Wasm engine).
user_groups := [g | some g in lib.arr(input.request.user.groups); is_string(g)]

user_allowed if {
	some g in user_groups
	g in allowed_groups
}

# A child a known controller creates for an admitted parent (ownerReferences controller:
# true) was authorised when the parent was; its model evidence is still checked in full.
controllers := lib.arr(lib.param(["access", "controllers"], []))

controller_child if {
	is_object(object.get(input.request, "controller", null))
	input.request.user.username in controllers
}

# ACCESS-DEPLOYER: at least one of the user's groups is allowed here.
findings contains lib.finding("ACCESS-DEPLOYER", msg, "/request/user/groups") if {
	not user_allowed
	not controller_child
	msg := lib.format("user %v (groups: %s) may not deploy %s-risk models to %s; allowed groups: %s", [
		input.request.user.username,
		listing(user_groups),
		lib.risk_tier,
		lib.environment,
		listing(allowed_groups),
	])
}

listing(s) := lib.join(", ", sort({x | some x in s})) if count(s) > 0

else := "none"
