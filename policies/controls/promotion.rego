# Promotion gates: what must be true of the evaluation evidence, the approvals and the
# calendar before a model version is deployed. Evidence is computed in Python (mlgate gate,
# mlgate attest) and arrives in input.evidence; thresholds come from params.yaml per risk tier
# and environment, so compliance officers tune them without touching this file.
package mlgate.controls.promotion

import data.mlgate.lib

tier_label := lib.format("%s-risk models in %s", [lib.risk_tier, lib.environment])

# ---------------------------------------------------------------------------------------
# GATE-METRICS: evaluation metrics meet the per-tier thresholds. When
# metrics.use_ci_lower_bound is set (high risk), the lower bound of the confidence interval
# must meet the threshold, not just the point estimate.
# ---------------------------------------------------------------------------------------
metrics := lib.evidence_section("metrics")

use_ci if lib.param(["metrics", "use_ci_lower_bound"], false) == true

# Thresholds per task (metrics.by_task; an LLM runtime implies text-generation), else the
# tabular metrics.min / metrics.max.
metric_min := lib.metric_thresholds("min")

metric_max := lib.metric_thresholds("max")

# An array (a name in both min and max appears twice; findings is a set, so that is harmless).
# A model with a known task also needs evidence for every metric its card declares.
required_metrics := array.concat(
	array.concat(
		[name | some name; threshold := metric_min[name]; is_number(threshold)],
		[name | some name; threshold := metric_max[name]; is_number(threshold)],
	),
	declared_required,
)

declared_required := lib.card_metric_names if lib.task != ""

else := []

# A model with a known task (the card's governance.task, or text-generation for an LLM
# runtime) is judged on the metrics its card declares: declaring none leaves nothing to gate.
# (Independent of params.yaml, so that no parameter edit can switch it off.)
findings contains lib.finding("GATE-METRICS", msg, "/card/quantitative_analysis/performance_metrics") if {
	lib.task != ""
	count(lib.card_metric_names) == 0
	msg := lib.format("the card declares no evaluation metrics for its task '%s' (quantitative_analysis.performance_metrics); models of this task are judged on the metrics their card declares", [lib.task])
}

findings contains lib.finding("GATE-METRICS", msg, path) if {
	some name in required_metrics
	not is_object(object.get(metrics, name, null))
	path := concat("/", ["/evidence/metrics", name])
	msg := lib.format("no evaluation evidence for metric %s, required for %s (run mlgate gate and attest the result)", [name, tier_label])
}

findings contains lib.finding("GATE-METRICS", msg, path) if {
	some name in required_metrics
	m := lib.obj(metrics[name])
	field := metric_field
	not is_number(object.get(m, field, null))
	path := concat("/", ["/evidence/metrics", name, field])
	msg := lib.format("metric %s has no numeric %s; %s are gated on %s", [name, field, tier_label, field_meaning[field]])
}

metric_field := "ci_low" if use_ci

else := "value"

metric_upper_field := "ci_high" if use_ci

else := "value"

field_meaning := {
	"value": "the point estimate",
	"ci_low": "the lower bound of the confidence interval",
	"ci_high": "the upper bound of the confidence interval",
}

findings contains lib.finding("GATE-METRICS", msg, path) if {
	some name, threshold in metric_min
	is_number(threshold)
	m := lib.obj(metrics[name])
	measured := object.get(m, metric_field, null)
	is_number(measured)
	measured < threshold
	path := concat("/", ["/evidence/metrics", name, metric_field])
	msg := lib.format("%s %s (%s) is below the minimum %s for %s%s", [name, lib.val(measured), field_meaning[metric_field], lib.val(threshold), tier_label, sample_note(m)])
}

findings contains lib.finding("GATE-METRICS", msg, path) if {
	some name, ceiling in metric_max
	is_number(ceiling)
	m := lib.obj(metrics[name])
	measured := object.get(m, metric_upper_field, null)
	is_number(measured)
	measured > ceiling
	path := concat("/", ["/evidence/metrics", name, metric_upper_field])
	msg := lib.format("%s %s (%s) is above the maximum %s for %s%s", [name, lib.val(measured), field_meaning[metric_upper_field], lib.val(ceiling), tier_label, sample_note(m)])
}

sample_note(m) := lib.format(" (point estimate %s, n=%s)", [lib.val(m.value), lib.val(m.n)]) if {
	is_number(m.value)
	is_number(m.n)
} else := ""

# ---------------------------------------------------------------------------------------
# GATE-DRIFT / GATE-DRIFT-WARN: the serving population has not drifted from the
# reference. PSI at or above drift.psi_deny (or a feature the statistics flagged "deny")
# blocks; PSI above psi_warn or a significant KS / chi-square test only warns, because
# significance tests flag tiny shifts on large samples.
# ---------------------------------------------------------------------------------------
drift := lib.evidence_section("drift")

features := f if {
	f := drift.features
	is_object(f)
} else := {}

psi_deny := lib.num_param(["drift", "psi_deny"], 0.25)

psi_warn := lib.num_param(["drift", "psi_warn"], 0.1)

# Each drifting feature's level, decided once: "deny" when its severity says so or its PSI
# reaches psi_deny; else "warn" when its severity says so, its PSI reaches psi_warn or a KS /
# chi-square test is significant. (One object comprehension per condition, merged with
# object.union, right-hand side winning: function calls per feature cost far more in rego-cpp.)
feature_levels := object.union(warn_levels, deny_levels)

deny_levels := object.union(
	{name: "deny" | some name; f := features[name]; is_object(f); f.severity == "deny"},
	{name: "deny" | some name; psi := features[name].psi; is_number(psi); psi >= psi_deny},
)

warn_levels := object.union(
	object.union(
		{name: "warn" | some name; f := features[name]; is_object(f); f.severity == "warn"},
		{name: "warn" | some name; psi := features[name].psi; is_number(psi); psi >= psi_warn},
	),
	object.union(
		{name: "warn" | some name; p := features[name].ks_pvalue; is_number(p); p < ks_pvalue},
		{name: "warn" | some name; p := features[name].chi2_pvalue; is_number(p); p < chi2_pvalue},
	),
)

# Thresholds as complete rules, evaluated once.
ks_pvalue := lib.num_param(["drift", "ks_pvalue"], 0.05)

chi2_pvalue := lib.num_param(["drift", "chi2_pvalue"], 0.05)

describe_feature(name, f) := lib.format("%s (PSI %s)", [name, lib.fmt(f.psi)]) if is_number(f.psi)

else := lib.format("%s (KS p=%s)", [name, lib.val(f.ks_pvalue)]) if is_number(f.ks_pvalue)

else := lib.format("%s (chi-square p=%s)", [name, lib.val(f.chi2_pvalue)]) if is_number(f.chi2_pvalue)

else := name

# [level, description] of every drifting feature.
drifting := [[level, text] |
	some name
	level := feature_levels[name]
	f := features[name]
	text := describe_feature(name, f)
]

denied_features := sort([text | some pair in drifting; pair[0] == "deny"; text := pair[1]])

warned_features := sort([text | some pair in drifting; pair[0] == "warn"; text := pair[1]])

findings contains lib.finding("GATE-DRIFT", msg, "/evidence/drift") if {
	count(features) == 0
	not lib.task_params.tabular_drift == false
	msg := "no drift evidence: compare the serving data with the training reference (mlgate gate --reference TRAIN.csv --current SERVING.csv) and attest the result"
}

findings contains lib.finding("GATE-DRIFT", msg, "/evidence/drift/features") if {
	count(denied_features) > 0
	msg := lib.format("%d feature(s) drifted beyond the deny threshold (PSI >= %s): %s", [count(denied_features), lib.val(psi_deny), lib.join(", ", denied_features)])
}

findings contains lib.finding("GATE-DRIFT", msg, "/evidence/drift/drift_share") if {
	share := drift.drift_share
	is_number(share)
	limit := lib.num_param(["drift", "dataset_drift_share"], 0.5)
	share >= limit
	msg := lib.format("dataset drift: %s%% of features drifted (limit %s%%)", [lib.fmt(share * 100), lib.fmt(limit * 100)])
}

findings contains lib.finding("GATE-DRIFT-WARN", msg, "/evidence/drift/features") if {
	count(warned_features) > 0
	msg := lib.format("%d feature(s) show moderate drift (PSI >= %s or a significant KS / chi-square test): %s", [count(warned_features), lib.val(psi_warn), lib.join(", ", warned_features)])
}

# ---------------------------------------------------------------------------------------
# GATE-FAIRNESS: outcomes disaggregated by group. The demographic parity ratio (lowest
# selection rate / highest) must reach fairness.min_parity_ratio (0.8 = the four-fifths
# rule) and the equal-opportunity difference (TPR gap) stay under its maximum.
# ---------------------------------------------------------------------------------------
fairness := lib.evidence_section("fairness")

groups := g if {
	g := fairness.groups
	is_object(g)
} else := {}

min_parity := lib.num_param(["fairness", "min_parity_ratio"], 0.8)

# Groups too small for reliable rates (flagged "small" by mlgate gate) are left out, as the
# evidence's own cross-group metrics leave them out.
selection_rates := {name: rate |
	some name
	group := groups[name]
	not group.small == true
	rate := group.selection_rate
	is_number(rate)
}

top_rate := max([rate | some rate in selection_rates])

# Computed in the body, not the head: rego-cpp fails on arithmetic in a comprehension head.
lagging_groups := sort([lib.format("%s %s", [name, lib.fmt(ratio)]) |
	top_rate > 0
	some name
	ratio := selection_rates[name] / top_rate
	ratio < min_parity
])

lagging_note := lib.format("; selection rate relative to the best group: %s", [lib.join(", ", lagging_groups)]) if {
	count(lagging_groups) > 0
} else := ""

findings contains lib.finding("GATE-FAIRNESS", msg, "/evidence/fairness") if {
	count(groups) == 0
	not is_number(object.get(fairness, "demographic_parity_ratio", null))
	msg := "no fairness evidence disaggregated by group: run mlgate gate --group COLUMN and attest the result"
}

findings contains lib.finding("GATE-FAIRNESS", msg, "/evidence/fairness/demographic_parity_ratio") if {
	ratio := fairness.demographic_parity_ratio
	is_number(ratio)
	ratio < min_parity
	msg := lib.format("demographic parity ratio %s across %s is below the minimum %s%s", [lib.val(ratio), group_column, lib.val(min_parity), lagging_note])
}

findings contains lib.finding("GATE-FAIRNESS", msg, "/evidence/fairness/four_fifths_rule") if {
	fairness.four_fifths_rule == false
	not parity_ratio_failed
	msg := lib.format("the four-fifths rule fails across %s%s", [group_column, lagging_note])
}

parity_ratio_failed if {
	is_number(fairness.demographic_parity_ratio)
	fairness.demographic_parity_ratio < min_parity
}

findings contains lib.finding("GATE-FAIRNESS", msg, "/evidence/fairness/equal_opportunity_difference") if {
	diff := fairness.equal_opportunity_difference
	is_number(diff)
	limit := lib.num_param(["fairness", "max_equal_opportunity_difference"], 0.1)
	diff > limit
	msg := lib.format("equal-opportunity difference (true-positive-rate gap) %s across %s exceeds the maximum %s", [lib.val(diff), group_column, lib.val(limit)])
}

group_column := lib.format("'%s'", [fairness.group_column]) if is_string(fairness.group_column)

else := "the protected groups"

# ---------------------------------------------------------------------------------------
# GATE-STABILITY: performance holds across evaluation periods (robustness, Art. 15(1)).
# ---------------------------------------------------------------------------------------
stability := lib.evidence_section("stability")

max_drop := lib.num_param(["stability", "max_metric_drop"], 0.05)

unstable_metrics := sort([lib.format("%s drops by %s", [name, lib.fmt(drop)]) |
	some name
	drop := lib.obj(stability.max_drop)[name]
	is_number(drop)
	drop > max_drop
])

findings contains lib.finding("GATE-STABILITY", msg, "/evidence/stability") if {
	count(stability) == 0
	msg := "no stability evidence: evaluate the model on several time periods (mlgate gate --period COLUMN) and attest the result"
}

findings contains lib.finding("GATE-STABILITY", msg, "/evidence/stability/max_drop") if {
	count(unstable_metrics) > 0
	msg := lib.format("performance is not stable across periods: %s (maximum allowed drop %s)", [lib.join(", ", unstable_metrics), lib.val(max_drop)])
}

findings contains lib.finding("GATE-STABILITY", msg, "/evidence/stability/stable") if {
	stability.stable == false
	count(unstable_metrics) == 0
	msg := "the stability evaluation reports the model as unstable across periods"
}

# ---------------------------------------------------------------------------------------
# GATE-CANARY: a high-risk model ran in shadow or canary before production.
# ---------------------------------------------------------------------------------------
deployment := lib.evidence_section("deployment")

min_days := lib.num_param(["canary", "min_days"], 7)

stage_done(stage) if {
	s := lib.obj(deployment[stage])
	s.completed == true
	is_number(s.days)
	s.days >= min_days
}

canary := c if {
	c := deployment.canary
	is_object(c)
} else := {}

canary_error_ok if not is_number(object.get(canary, "error_rate", null))

canary_error_ok if {
	is_number(canary.error_rate)
	canary.error_rate <= max_error_rate
}

max_error_rate := lib.num_param(["canary", "max_error_rate"], 0.01)

rollout_done if stage_done("shadow")

rollout_done if {
	stage_done("canary")
	canary_error_ok
}

describe_stage(stage) := "not run" if {
	not is_object(object.get(deployment, stage, null))
} else := lib.format("completed=%v, %s days", [object.get(deployment[stage], "completed", false), lib.val(object.get(deployment[stage], "days", 0))])

findings contains lib.finding("GATE-CANARY", msg, "/evidence/deployment") if {
	not rollout_done
	msg := lib.format("no completed shadow or canary deployment of at least %s days before production (shadow: %s; canary: %s)", [lib.val(min_days), describe_stage("shadow"), describe_stage("canary")])
}

findings contains lib.finding("GATE-CANARY", msg, "/evidence/deployment/canary/error_rate") if {
	stage_done("canary")
	not canary_error_ok
	not stage_done("shadow")
	msg := lib.format("canary error rate %s exceeds the maximum %s", [lib.val(canary.error_rate), lib.val(max_error_rate)])
}

# ---------------------------------------------------------------------------------------
# GATE-APPROVALS: approvals by the roles params.yaml requires, by enough distinct people
# (two-person rule for high risk), none of them the deployer or the model's owner.
# ---------------------------------------------------------------------------------------
deployer := lower(input.request.user.username) if is_string(input.request.user.username)

else := ""

owner_ids contains lower(id) if {
	some id in [object.get(lib.owner, "email", null), object.get(lib.owner, "name", null)]
	lib.text(id)
}

owner_ids contains lower(id) if {
	some o in lib.arr(object.get(lib.card, ["model_details", "owners"], []))
	some id in [object.get(lib.obj(o), "contact", null), object.get(lib.obj(o), "name", null)]
	lib.text(id)
}

# The lower-cased approver of each approval (by its index in lib.approvals) that names one.
# Computed once per decision: the checks below index these rather than call functions.
approver_ids := {i: lower(a.approver) |
	some i
	a := lib.approvals[i]
	is_string(a.approver)
	trim_space(a.approver) != ""
}

# Why an approval is a self-approval: the deployer's own, else one by an owner of the model
# (object.union: the right-hand side wins).
self_approval := object.union(
	{i: "an owner of the model" | some i; id := approver_ids[i]; id in owner_ids},
	{i: "the deployer" | some i; id := approver_ids[i]; id == deployer},
)

# The indices of the approvals that count.
valid_approvals := [i |
	some i
	a := lib.approvals[i]
	approver_ids[i]
	is_string(a.role)
	trim_space(a.role) != ""
	is_number(a.approved_at_ns)
	a.approved_at_ns <= lib.now_ns
	not self_approval[i]
]

approved_roles := [lib.approvals[i].role | some i in valid_approvals]

approvers := {approver_ids[i] | some i in valid_approvals}

findings contains lib.finding("GATE-APPROVALS", msg, "/evidence/approvals") if {
	some i
	reason := self_approval[i]
	a := lib.approvals[i]

	# trim_space: rego-cpp's sprintf would quote a string literal taken from a collection.
	why := trim_space(reason)
	msg := lib.format("approval by %v as %v does not count: the approver is %s (no self-approval)", [a.approver, object.get(a, "role", null), why])
}

findings contains lib.finding("GATE-APPROVALS", msg, "/evidence/approvals") if {
	some a in lib.approvals
	lib.text(a.approver)
	not is_number(object.get(a, "approved_at_ns", null))
	msg := lib.format("approval by %v has no timestamp (approved_at) and does not count", [a.approver])
}

findings contains lib.finding("GATE-APPROVALS", msg, "/evidence/approvals") if {
	some a in lib.approvals
	is_number(a.approved_at_ns)
	a.approved_at_ns > lib.now_ns
	msg := lib.format("approval by %v is dated in the future (%s) and does not count", [a.approver, lib.date(a.approved_at_ns)])
}

findings contains lib.finding("GATE-APPROVALS", msg, "/evidence/approvals") if {
	some role in lib.param(["approvals", "required_roles"], [])
	not role in approved_roles
	msg := lib.format("no valid approval by role %v, required for %s", [role, tier_label])
}

findings contains lib.finding("GATE-APPROVALS", msg, "/evidence/approvals") if {
	needed := lib.num_param(["approvals", "min_distinct_approvers"], 1)
	is_number(needed)
	count(approvers) < needed
	who := approver_list
	msg := lib.format("%s distinct approvers are required for %s, found %d%s", [lib.val(needed), tier_label, count(approvers), who])
}

approver_list := lib.format(" (%s)", [lib.join(", ", sort(approvers))]) if count(approvers) > 0

else := ""

# ---------------------------------------------------------------------------------------
# GATE-FREEZE / GATE-BREAK-GLASS: no deployments during a change freeze. Break-glass
# (annotation mlgate.io/break-glass) admits only a rollback to a version approved before the
# freeze started: every attested approval of the model predates the window. This is
# stateless: the webhook needs no history, the signed approvals carry the dates.
# ---------------------------------------------------------------------------------------
break_glass := lib.obj(object.get(lib.obj(input.context), "break_glass", {}))

break_glass_requested if break_glass.requested == true

active_windows := [w |
	some w in data.mlgate.params.freeze_windows
	lib.environment in w.environments
	w.start_ns <= lib.now_ns
	lib.now_ns <= w.end_ns
]

# Why break-glass cannot admit the model during a window: [window name, reason] pairs.
bg_problem contains [w.name, "break-glass was not requested (annotation mlgate.io/break-glass with a reason)"] if {
	some w in active_windows
	not break_glass_requested
}

bg_problem contains [w.name, "the break-glass request gives no reason"] if {
	some w in active_windows
	break_glass_requested
	not lib.text(object.get(break_glass, "reason", null))
}

bg_problem contains [w.name, "the model has no trusted governance attestation, so it is not a previously approved version"] if {
	some w in active_windows
	break_glass_requested
	not input.attestation.trusted == true
}

bg_problem contains [w.name, "the model has no approvals"] if {
	some w in active_windows
	break_glass_requested
	count(lib.approvals) == 0
}

bg_problem contains [w.name, msg] if {
	some w in active_windows
	break_glass_requested
	some a in lib.approvals
	not approved_before(a, w.start_ns)
	msg := lib.format("approval by %v on %s is not before the freeze began on %s, so this is not a rollback to a previously approved version", [object.get(a, "approver", null), lib.date(object.get(a, "approved_at_ns", null)), lib.date(w.start_ns)])
}

bg_problem contains [w.name, msg] if {
	some w in active_windows
	break_glass_requested
	target := break_glass.rollback_to_digest
	target != object.get(input.model, "declared_digest", null)
	msg := lib.format("break-glass names rollback target %v but the object deploys %v", [target, object.get(input.model, "declared_digest", null)])
}

approved_before(a, start) if {
	is_number(a.approved_at_ns)
	a.approved_at_ns < start
}

window_problems(name) := sort([p | some x in bg_problem; x[0] == name; p := x[1]])

findings contains lib.finding("GATE-FREEZE", msg, "/context/now_ns") if {
	some w in active_windows
	problems := window_problems(w.name)
	count(problems) > 0
	msg := lib.format("change freeze '%s' is in force for %s from %s to %s; only a break-glass rollback to a version approved before the freeze is allowed, and %s", [w.name, lib.environment, lib.date(w.start_ns), lib.date(w.end_ns), lib.join("; ", problems)])
}

findings contains lib.finding("GATE-BREAK-GLASS", msg, "/context/break_glass") if {
	break_glass_requested
	msg := lib.format("break-glass requested by %v (reason: %v) for %v %v: %s", [input.request.user.username, object.get(break_glass, "reason", ""), object.get(input.model, "name", input.model.uri), object.get(input.model, "declared_digest", null), break_glass_outcome])
}

break_glass_outcome := "no change freeze is in force, break-glass was not needed" if {
	count(active_windows) == 0
} else := lib.format("rejected during freeze '%s'", [w.name]) if {
	some w in active_windows
	count(window_problems(w.name)) > 0
} else := lib.format("accepted as a rollback during freeze '%s'", [active_windows[0].name])

# ---------------------------------------------------------------------------------------
# GATE-STALENESS: the model is not older than the tier allows.
# ---------------------------------------------------------------------------------------
trained_at := object.get(lib.timeline, "trained_at_ns", null)

max_age := lib.num_param(["max_model_age_days"], 365)

findings contains lib.finding("GATE-STALENESS", msg, "/card/governance/training_completed_at") if {
	not is_number(trained_at)
	msg := "no training date: set governance.training_completed_at in the model card"
}

findings contains lib.finding("GATE-STALENESS", msg, "/card/governance/training_completed_at") if {
	is_number(trained_at)
	is_number(max_age)
	age := lib.days(lib.now_ns - trained_at)
	age > max_age
	msg := lib.format("the model was trained %d days ago (%s), more than the %s days allowed for %s; retrain and re-evaluate it", [age, lib.date(trained_at), lib.val(max_age), tier_label])
}

findings contains lib.finding("GATE-STALENESS", msg, "/card/governance/training_completed_at") if {
	is_number(trained_at)
	trained_at > lib.now_ns
	msg := lib.format("the training date %s is in the future", [lib.date(trained_at)])
}

# ---------------------------------------------------------------------------------------
# GATE-REVIEW: a post-deployment review schedule exists and is kept.
# ---------------------------------------------------------------------------------------
max_interval := lib.num_param(["review_interval_days"], 365)

card_interval := lib.gov("review_interval_days")

# The schedule that binds: the card's own interval, capped by the parameter.
interval := min([card_interval, max_interval]) if {
	is_number(card_interval)
	card_interval > 0
	is_number(max_interval)
} else := card_interval if {
	is_number(card_interval)
	card_interval > 0
} else := max_interval

last_review := lib.timeline.last_review_ns if is_number(lib.timeline.last_review_ns)

else := lib.timeline.attested_at_ns if is_number(lib.timeline.attested_at_ns)

findings contains lib.finding("GATE-REVIEW", msg, "/card/governance/review_interval_days") if {
	not is_number(card_interval)
	msg := lib.format("no post-deployment review schedule: set governance.review_interval_days (at most %s days for %s)", [lib.val(max_interval), tier_label])
}

findings contains lib.finding("GATE-REVIEW", msg, "/card/governance/review_interval_days") if {
	is_number(card_interval)
	is_number(max_interval)
	card_interval > max_interval
	msg := lib.format("governance.review_interval_days is %s, longer than the %s days allowed for %s", [lib.val(card_interval), lib.val(max_interval), tier_label])
}

findings contains lib.finding("GATE-REVIEW", msg, "/card/governance/last_review_at") if {
	not last_review
	msg := "no review date: set governance.last_review_at after the model's last review"
}

findings contains lib.finding("GATE-REVIEW", msg, "/card/governance/last_review_at") if {
	is_number(last_review)
	is_number(interval)
	since := lib.days(lib.now_ns - last_review)
	since > interval
	msg := lib.format("the last review was %d days ago (%s); reviews are due every %s days", [since, lib.date(last_review), lib.val(interval)])
}
