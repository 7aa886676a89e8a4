# Shared helpers for every control. Policies read the canonical input (schemas/input.schema.json)
# and the resolved parameters; they never see raw Kubernetes objects.
#
# Writing rules that work identically on OPA and on rego-cpp (the embedded engine):
# - compare only after is_number()/is_string(): rego-cpp orders values of different types
#   differently from OPA (`null > 0.5` is true there, false in OPA);
# - read optional fields through obj()/get()/text() so that a missing or mistyped field
#   gives a clean finding, never an evaluation error (which would deny the whole decision);
# - never call a function on a possibly undefined value under `not`: OPA makes
#   `not is_number(input.x)` undefined when input.x is, rego-cpp makes it true. Use
#   object.get(o, key, null) to get a defined value first;
# - inside comprehensions iterate with `obj[k]`, not `some k, v in obj` (rego-cpp rejects it),
#   and bind `v := obj[k]` before passing it to a function: `f(obj[k])` does not enumerate k
#   in rego-cpp; keep arithmetic out of comprehension heads (bind it in the body);
# - never name a local variable like a rule of the same package (rego-cpp resolves the rule);
# - concat() only sorted arrays: set iteration order differs between the engines;
# - in messages use join(), never concat()/lower()/upper()/replace() results directly as
#   sprintf arguments (see join);
# - no %q in sprintf (rego-cpp prints it literally) and no json.marshal inside sprintf
#   (regopy returns undecodable JSON); use show() to quote a value.
package mlgate.lib

tiers := {"prohibited", "high", "limited", "minimal"}

ns_per_day := 86400000000000

# Unknown environments are treated as production: a typo must not relax the rules.
environment := input.context.environment if {
	input.context.environment in data.mlgate.params.environments
} else := "production"

is_production if environment == "production"

now_ns := input.context.now_ns

# ---------------------------------------------------------------------------------------
# Defensive accessors
# ---------------------------------------------------------------------------------------

# obj(x) is x when it is an object, else {}: mistyped sections read as empty.
obj(x) := x if is_object(x)

else := {}

# get(x, key, fallback) is object.get that tolerates a non-object x.
get(x, key, fallback) := object.get(x, key, fallback) if is_object(x)

else := fallback

# arr(x) is x when it is an array, else [].
arr(x) := x if is_array(x)

else := []

# text(x) holds for a non-blank string.
text(x) if {
	is_string(x)
	trim_space(x) != ""
}

# num(x) is x as a number: numbers as such, numeric strings (Model Card Toolkit writes
# metric values as strings) converted; undefined otherwise, never an error.
num(x) := x if is_number(x)

num(x) := to_number(x) if {
	is_string(x)
	regex.match(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`, x)
}

# Numbers in messages. sprintf's %v prints some floats differently (OPA 0.683, rego-cpp
# 0.6830000000000001), so messages print numbers through these: fmt(x) with at most 3
# decimals (computed ratios), val(x) with at most 6 (values from the input or params),
# trailing zeros removed: 0.25 -> "0.25", 180 -> "180", 0.00001 -> "0.00001".
fmt(x) := decimals(x, "%.3f")

val(x) := decimals(x, "%.6f")

# (Whole numbers go through format_int: OPA's %f does not accept integers. The Wasm engine's
# format_int stops at 32 bits (beyond, it fails the evaluation), so larger whole numbers print
# their JSON text when it is plain digits (what format_int gives on OPA), else %.0f (a whole
# float: exact below 2^53). Numbers of 2^53 and more are named by their bound: there OPA
# computes exact decimals where the Wasm engine has doubles, so the digits would differ.)
decimals(x, pattern) := "more than 9007199254740991" if {
	is_number(x)
	x >= 9007199254740992
} else := "less than -9007199254740991" if {
	is_number(x)
	x <= -9007199254740992
} else := trim_space(format_int(x, 10)) if {
	is_number(x)
	x == floor(x)
	abs(x) <= 2147483647
} else := json.marshal(x) if {
	is_number(x)
	x == floor(x)
	regex.match(`^-?[0-9]+$`, json.marshal(x))
} else := sprintf("%.0f", [x]) if {
	is_number(x)
	x == floor(x)
} else := trim_space(trim_suffix(trim_right(sprintf(pattern, [x]), "0"), ".")) if {
	is_number(x)
} else := trim_space(x) if {
	is_string(x)
} else := format("%v", [x])

# join(sep, xs) is concat() for messages. rego-cpp's sprintf prints the result of concat,
# lower, upper, replace or format_int, and string literals passed as function arguments,
# *with* JSON quotes (and then emits invalid JSON); trim_space() returns a plain string, so
# pass such values through it before sprintf.
join(sep, xs) := trim_space(concat(sep, xs))

# show(x) renders a value from the input for a message: strings quoted, null as "not set".
# (Not json.marshal or %q: inside sprintf they break rego-cpp's output or are unsupported.)
show(x) := concat("", ["'", trim_space(x), "'"]) if is_string(x)

else := "not set" if x == null

else := format("%v", [x])

# format(template, args) is sprintf(template, args), and every message is built with it.
# On the Wasm engine sprintf is not compiled into the module: each call goes out to the
# host (about 200 us, against a few us for a builtin inside the module). format computes
# the common case with builtins the module implements itself, and gives that case to
# sprintf's own rules (OPA's topdown/strings.go): every verb is %s, %v or %d, one per
# argument; a string prints as itself under %s and %v; null and booleans print their Rego
# text (null, true, false) under %s and %v; a number prints its digits under %v and %d when
# its JSON text is plain integer digits (what format_int gives: OPA hands sprintf such a
# number as an integer). Any other template or argument (%%, widths, floats, objects, a
# count mismatch) goes to sprintf itself, so the result is sprintf's in every case
# (lib_test.rego compares the two on OPA; tests/test_wasm_differential.py on both engines).
format(template, args) := concat("", array.concat([parts[0]], pieces)) if {
	parts := split(template, "%")
	count(parts) == count(args) + 1
	pieces := [piece |
		some i, arg in args
		part := parts[i + 1]
		piece := concat("", [verb_text(substring(part, 0, 1), arg), substring(part, 1, -1)])
	]
	count(pieces) == count(args)
} else := sprintf(template, args)

verb_text(verb, x) := x if {
	verb in {"s", "v"}
	is_string(x)
}

verb_text(verb, x) := json.marshal(x) if {
	verb in {"s", "v"}
	not is_string(x)
	plain_scalar(x)
}

verb_text(verb, x) := digits if {
	verb in {"v", "d"}
	is_number(x)
	abs(x) <= 2147483647 # the Wasm engine's format_int stops at 32 bits
	digits := format_int(x, 10)
	digits == json.marshal(x)
}

plain_scalar(x) if x == null

plain_scalar(x) if is_boolean(x)

# days(ns) is a duration in whole days.
days(ns) := floor(ns / ns_per_day)

# date(ns) renders a timestamp (ns since the epoch, UTC) as YYYY-MM-DD. The range check keeps
# time.date inside int64 on every engine: OPA compares numbers exactly, the Wasm engine as
# doubles, so floor(1e300) == 1e300 holds only on the latter.
date(ns) := sprintf("%04d-%02d-%02d", [d[0], d[1], d[2]]) if {
	is_number(ns)
	floor(ns) == ns
	abs(ns) < 9200000000000000000
	d := time.date(ns)
} else := "an unknown date"

# Kept for existing callers: a key that is absent, false or "".
missing(o, key) if not o[key]

missing(o, key) if o[key] == ""

# ---------------------------------------------------------------------------------------
# The model card
# ---------------------------------------------------------------------------------------

card := c if {
	c := input.card
	is_object(c)
} else := {}

governance := g if {
	g := card.governance
	is_object(g)
} else := {}

# gov(key) is one governance field (null when absent); section(key) one governance object.
gov(key) := object.get(governance, key, null)

section(key) := obj(object.get(governance, key, {}))

# gov_missing(key) holds when the governance field is absent or blank.
gov_missing(key) if not text(gov(key))

# section_text(name, key) holds when governance.<name>.<key> is a non-blank string.
section_text(name, key) if text(object.get(section(name), key, null))

card_trusted if {
	input.card_source == "attestation"
	input.attestation.trusted == true
}

owner := section("owner")

# ---------------------------------------------------------------------------------------
# Risk tier (AI Act Art. 5, Art. 6 and Annex III)
# ---------------------------------------------------------------------------------------

declared_tier := governance.risk_tier if governance.risk_tier in tiers

annex_iii_area := governance.annex_iii_area if text(object.get(governance, "annex_iii_area", null))

derogation_claimed if governance.art6_3_derogation.claimed == true

# An Art. 6(3) derogation counts only with its documented assessment (Art. 6(4)) and never
# for a system that profiles natural persons (Art. 6(3), last subparagraph).
valid_derogation if {
	derogation_claimed
	section_text("art6_3_derogation", "assessment_ref")
	not profiling
}

profiling if governance.personal_data.profiling == true

prohibited_practices := p if {
	p := governance.prohibited_practices
	is_array(p)
} else := []

prohibited_practice if count(prohibited_practices) > 0

prohibited_practice if declared_tier == "prohibited"

# The effective tier: prohibited practices and Annex III areas override what was declared
# (AI Act Art. 5 and 6); only a documented Art. 6(3) derogation keeps a lower declared tier.
risk_tier := "prohibited" if {
	prohibited_practice
} else := "high" if {
	annex_iii_area
	not valid_derogation
} else := declared_tier if {
	declared_tier
} else := "unknown"

is_high_risk if risk_tier == "high"

# Parameters for this decision: the strictest ("high") set when the tier is unknown.
params_tier := risk_tier if risk_tier in {"high", "limited", "minimal"}

else := "high"

params := data.mlgate.params.resolved[params_tier][environment]

# param(path, fallback) reads a nested parameter, e.g. param(["approvals", "required_roles"], []).
param(path, fallback) := object.get(params, path, fallback)

# num_param(path, fallback) reads a numeric threshold; a value that is not a number (a typo
# in params.yaml, which `mlgate policy check` reports) falls back to the shipped default
# rather than comparing across types.
num_param(path, fallback) := v if {
	v := object.get(params, path, null)
	is_number(v)
} else := fallback

# ---------------------------------------------------------------------------------------
# Personal data (GDPR)
# ---------------------------------------------------------------------------------------

personal := section("personal_data")

processes_personal_data if personal.processed == true

special_categories := arr(object.get(personal, "special_categories", []))

processes_special_categories if {
	processes_personal_data
	count(special_categories) > 0
}

# ---------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------

evidence := e if {
	e := input.evidence
	is_object(e)
} else := {}

evidence_section(key) := obj(object.get(evidence, key, {}))

timeline := evidence_section("timeline")

approvals := [a | some a in arr(object.get(evidence, "approvals", [])); is_object(a)]

# The model's digest as declared on the object (mlgate.io/model-digest).
declared_digest := input.model.declared_digest if text(input.model.declared_digest)

finding(control, message, path) := {"control": control, "message": message, "path": path}

# ---------------------------------------------------------------------------------------
# Serving runtime and task: what the deployment itself says about the model
# ---------------------------------------------------------------------------------------

# Runtimes params.yaml (model_servers, llm: true) marks as serving generative language models.
llm_runtimes := {s.runtime | some s in object.get(data.mlgate.params, "model_servers", []); s.llm == true}

llm_served if input.model.runtime in llm_runtimes

llm_served if input.model.format == "huggingface"

# The model's task: the card's governance.task, else text-generation when an LLM runtime
# serves it (whatever the card says), else none (the tabular defaults apply).
task := t if {
	t := governance.task
	text(t)
} else := "text-generation" if {
	llm_served
} else := ""

# params.yaml metrics.by_task[task]: replaces the tabular metric thresholds for that task.
task_params := p if {
	p := object.get(params, ["metrics", "by_task", task], null)
	is_object(p)
} else := {}

by_task if count(task_params) > 0

# metric_thresholds("min" | "max"): per task when params.yaml has the task, else tabular.
metric_thresholds(kind) := m if {
	by_task
	m := object.get(task_params, kind, {})
	is_object(m)
} else := m if {
	not by_task
	m := object.get(params, ["metrics", kind], {})
	is_object(m)
} else := {}

# The overall metric names the card declares (quantitative_analysis.performance_metrics).
card_metric_names := [name |
	some m in arr(object.get(card, ["quantitative_analysis", "performance_metrics"], []))
	is_object(m)
	name := object.get(m, "type", null)
	text(name)
	not text(object.get(m, "slice", null))
]
