# Unit tests for the shared helpers. Run by `opa test` (real OPA) and by `mlgate test`
# (embedded rego-cpp), so both engines must agree on every one of them.
#
# Only pure functions here: rego-cpp crashes evaluating `with input` / `with data`, so tests
# that need them live in tier_test.rego, which `mlgate test` skips on the embedded engine.
package mlgate.lib_test

import data.mlgate.lib

# --- defensive accessors ---------------------------------------------------------------

test_obj_keeps_objects_and_blanks_the_rest if {
	lib.obj({"a": 1}) == {"a": 1}
	lib.obj("text") == {}
	lib.obj(null) == {}
	lib.obj([1]) == {}
}

test_get_tolerates_non_objects if {
	lib.get({"a": 1}, "a", 0) == 1
	lib.get({"a": 1}, "b", 0) == 0
	lib.get("not an object", "a", 0) == 0
}

test_arr_keeps_arrays_only if {
	lib.arr([1, 2]) == [1, 2]
	lib.arr({"a": 1}) == []
	lib.arr(null) == []
}

test_text_needs_a_non_blank_string if {
	lib.text("x")
	not lib.text("   ")
	not lib.text("")
	not lib.text(5)
	not lib.text(null)
}

test_num_accepts_numbers_and_numeric_strings if {
	lib.num(0.5) == 0.5
	lib.num("0.91") == 0.91
	lib.num("-1e-3") == -0.001
}

test_num_is_undefined_for_non_numbers_not_an_error if {
	not lib.num("abc")
	not lib.num("1.2.3")
	not lib.num(null)
	not lib.num(true)
}

test_show_quotes_strings_and_names_null if {
	lib.show("x") == "'x'"
	lib.show(null) == "not set"
	lib.show(3) == "3"
}

test_join_is_concat if {
	lib.join(", ", ["a", "b"]) == "a, b"
	lib.join(", ", []) == ""
}

test_fmt_renders_at_most_three_decimals if {
	lib.fmt(0.8567) == "0.857"
	lib.fmt(0.25) == "0.25"
	lib.fmt(2 / 3) == "0.667"
	lib.fmt(180) == "180"
	lib.fmt(0) == "0"
	lib.fmt("n/a") == "n/a"
}

test_val_renders_input_numbers_without_float_noise if {
	lib.val(0.683) == "0.683"
	lib.val(0.1 + 0.2) == "0.3"
	lib.val(0.00001) == "0.00001"
	lib.val(12000) == "12000"
	lib.val(-0.5) == "-0.5"
}

test_val_prints_whole_numbers_beyond_32_bits if {
	# The Wasm engine's format_int fails beyond 32 bits: these must not reach it.
	lib.val(5000000000) == "5000000000"
	lib.val(-2147483649) == "-2147483649"
	lib.val(5e9) == "5000000000"
	lib.val(9007199254740991) == "9007199254740991"
	lib.val(2147483647) == "2147483647"
}

test_date_renders_utc_days if {
	lib.date(1797724800000000000) == "2026-12-20"
	lib.date(null) == "an unknown date"
	lib.date(1.5) == "an unknown date"
}

test_days_counts_whole_days if {
	lib.days(lib.ns_per_day * 3) == 3
	lib.days((lib.ns_per_day * 3) - 1) == 2
}

# --- format: sprintf's result, with builtins the Wasm module computes itself -----------------

format_cases := [
	["%s and %v", ["text", "ünïcödé \u202e RTL"]],
	["%v|%s|%v|%s", [null, true, false, null]],
	["%d items, %v more", [3, -12]],
	["%v", [9007199254740993]],
	["%v %d", [2147483647, -2147483648]],
	["%v %d", [2147483648, -2147483649]],
	["%v", [123456789012345678901234567890]],
	["%v %v %v %v", [3.0, 1e3, -0, 0.25]],
	["%d", [2.5]],
	["%s", [5]],
	["%d", ["five"]],
	["%v", [{"a": [1, "x"]}]],
	["%v", [[1, 2]]],
	["%s%%", ["50"]],
	["%04d-%02d", [7, 3]],
	["%s %s", ["only one"]],
	["%s", ["one", "two"]],
	["no verbs", []],
	["%s é %s ✓", ["ä", "ß"]],
	["", []],
]

test_format_is_sprintf if {
	every case in format_cases {
		lib.format(case[0], case[1]) == sprintf(case[0], case[1])
	}
}

test_format_computes_the_plain_cases_itself if {
	# These must not depend on sprintf: they are the messages' common case.
	lib.verb_text("s", "x") == "x"
	lib.verb_text("v", null) == "null"
	lib.verb_text("d", 42) == "42"
	not lib.verb_text("d", 2.5)
	not lib.verb_text("s", 5)
	not lib.verb_text("v", {"a": 1})
}
