"""OPA-exact replacements for rego-cpp builtins that are ASCII-only, for the embedded engine.

rego-cpp's ``trim_space`` trims ASCII whitespace only and its ``lower``/``upper`` change ASCII
letters only; OPA (Go's strings.TrimSpace / ToLower / ToUpper) works on Unicode. Both
differences fail *open* in the shipped policies:

- ``lib.text(x)`` (``trim_space(x) != ""``) is how a required field is checked; a value of
  only U+00A0 (no-break space) or U+3000 counts as filled on rego-cpp and as missing on OPA;
- the no-self-approval rule compares ``lower(approver)`` with ``lower(deployer)``; "ÉLODIE"
  and "élodie" are the same person on OPA and two people on rego-cpp.

So before compiling, the embedded backend rewrites calls of these builtins into calls of the
functions below (a module in package ``mlgate_compat``, seen only by rego-cpp), which compute
what OPA computes with builtins rego-cpp gets right: ``trim`` with Go's ``unicode.IsSpace``
set as the cutset, and a per-character table of Unicode *simple* case mappings (what Go's
unicode.ToLower/ToUpper use) for non-ASCII text. ``tests/test_compat.py`` checks the
tables character by character against the real OPA.

Two more rego-cpp traps are handled here, in how the input goes in and the result comes out:

- rego-cpp keeps strings in their JSON-escaped source form (a policy literal "a\\"b" is stored
  as the four characters a, backslash, quote, b) and writes them into its JSON output as they
  are. regopy hands it input strings *raw*, so a quote or a backslash from the input breaks the
  output (a needless fail-closed denial), changes it (a backslash-n turns into a newline),
  makes rego-cpp reject the input ("Invalid escape sequence"), or lets crafted text inject
  JSON structure into the result. ``set_input`` therefore escapes backslash, quote and NUL
  (which the C API would truncate at) in every input string and key, so the input is stored
  the way rego-cpp stores literals: equality with policy literals holds and the output decodes
  to the original text. (``count`` of such a string then counts the escapes; no decision in
  the shipped policies depends on it.) regopy also converts integers to int64 with silent
  wrap-around (2**64 + 5 becomes 5): an input integer outside int64 is refused (fail closed).
- the escaping cannot cover quotes that rego-cpp itself adds (``sprintf("%v", [object])``), so
  rego-cpp evaluates ``mlgate_compat/result``: the policy's result plus ``mlgate_integrity``,
  the sorted control ids of the findings and the top-level strings (environment, tier),
  computed inside rego-cpp. ``decode_output`` checks the decoded result against it, so text
  that slipped JSON structure into the output cannot add, hide or relabel a finding or change
  the environment or tier undetected.

This module's own Rego uses raw (backtick) string literals only: rego-cpp keeps escape
sequences of double-quoted literals verbatim (``count("\\n") == 2``); see
``mlgate.policyset.builtins``, which refuses them in policies.
"""

from __future__ import annotations

import ctypes
import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from regopy import rego_shared as rs

PACKAGE = "mlgate_compat"
MODULE_NAME = "mlgate_compat.rego"

# Go's unicode.IsSpace: the ASCII blanks, U+0085, U+00A0 and the White_Space Z characters.
GO_SPACE = (
    "\t\n\v\f\r \u0085\u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)

SAFE_ENTRYPOINT = f"{PACKAGE}/result"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

REWRITES = {"trim_space": "trim_space_u", "lower": "lower_u", "upper": "upper_u"}

# A call of a bare builtin name: not a field (x.lower), not part of a longer name.
_CALL = re.compile(r"(?<![\w.])(" + "|".join(REWRITES) + r")\s*\(")
# trim_space(<reference>): a variable, a dotted path or a [var] index, no call inside.
_SIMPLE_TRIM = re.compile(r"(?<![\w.])trim_space\(\s*([A-Za-z_]\w*(?:\.\w+|\[\w+\])*)\s*\)")
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*')


def _simple_map(upper: bool) -> dict[str, str]:
    """Non-ASCII characters with a one-character case mapping (Unicode's simple mapping).

    Python applies the full mapping (SpecialCasing) but it only differs from the simple one
    where the result is several characters; those are left out, as Go leaves them unchanged.
    U+0130 is the exception: its full lowercase is two characters, its simple one is "i".
    """
    table: dict[str, str] = {}
    for code in range(0x80, 0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        mapped = ch.upper() if upper else ch.lower()
        if mapped != ch and len(mapped) == 1:
            table[ch] = mapped
    if not upper:
        table["\u0130"] = "i"
    return table


def _raw(text: str) -> str:
    """A Rego raw string literal (rego-cpp mis-reads escapes in double-quoted ones)."""
    if "`" in text:
        raise ValueError("a raw Rego string cannot contain a backtick")
    return f"`{text}`"


def _table_literal(table: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_raw(k)}: {_raw(v)}" for k, v in sorted(table.items())) + "}"


# The entrypoint rego-cpp evaluates: the policy's result plus mlgate_integrity, the sorted
# control ids of the findings (decode_output checks them). ENTRY is replaced by the reference
# of the policy entrypoint.
_INTEGRITY = """
integrity := {
	"controls": concat(",", sort([f.control | some f in ENTRY.findings])),
	"top": concat("|", sort([concat("=", [k, ENTRY[k]]) | some k in object.keys(ENTRY); is_string(ENTRY[k])])),
}

result := object.union(ENTRY, {"mlgate_integrity": integrity})
"""
INTEGRITY_KEY = "mlgate_integrity"


@functools.cache
def module_source(names: frozenset[str], entrypoint: str) -> str:
    """The compat module: the escaping entrypoint and the functions ``names`` need."""
    lines = [
        "# Generated by mlgate.rego.compat for the embedded engine only.",
        f"package {PACKAGE}",
        _INTEGRITY.replace("ENTRY", "data." + entrypoint.replace("/", ".")),
    ]
    if "trim_space" in names:
        lines += [f"go_space := {_raw(GO_SPACE)}", "", "trim_space_u(x) := trim(x, go_space)", ""]
    for name, upper in (("lower", False), ("upper", True)):
        if name in names:
            lines += [
                f"{name}_table := {_table_literal(_simple_map(upper))}",
                "",
                # ASCII fast path; otherwise map each character, then the builtin does ASCII.
                f"{name}_u(x) := {name}(x) if regex.match(`^[ -~]*$`, x)",
                "",
                f"else := {name}(concat(``, [object.get({name}_table, c, c) | some c in split(x, ``)]))",
                "",
            ]
    return "\n".join(lines)


def rewrite(modules: dict[str, str], entrypoint: str) -> dict[str, str]:
    """The modules with affected builtin calls redirected, plus the compat module."""
    used: set[str] = set()
    out = {name: _rewrite_source(source, used) for name, source in modules.items()}
    out[MODULE_NAME] = module_source(frozenset(used), entrypoint)
    return out


def decode_output(impl: Any) -> Any:
    """The entrypoint value of a rego-cpp output handle (not freed here), integrity-checked.

    rego-cpp keeps strings in escaped form and writes them out as they are. Input strings
    arrive escaped (set_input), so the output text is normally valid JSON. rego-cpp itself
    can still put raw quotes into a string (a literal passed on to sprintf keeps its quotes;
    trim* return strings unescaped; %v renders composites with quotes): the text then does not
    parse, or parses into something else, which the integrity check notices. In both cases
    the value is read node by node instead: slower, but the structure then comes from the
    nodes, never from text. Returns None when the entrypoint is undefined; raises ValueError
    when the result cannot be decoded or fails the integrity check.
    """
    text = rs.rego_output_string(impl)
    if text.strip() == "undefined":
        return None
    if text.startswith("(error"):  # an error rendered as text with ok=True (base64.decode...)
        reasons = re.findall(r"errormsg \d+:([^\n)]*)", text)
        raise ValueError("a builtin failed: " + ("; ".join(reasons) or text[:200]))
    try:
        parsed = json.loads(text, strict=False)  # rego-cpp writes control characters raw
        expressions = parsed.get("expressions") if isinstance(parsed, dict) else None
        value = expressions[0] if expressions else None
        return _checked(value)
    except ValueError:
        terms = _C.regoOutputExpressionsAtIndex(impl, 0)
        if not terms or not _C.regoNodeSize(terms):
            raise ValueError("rego-cpp output is neither JSON nor a term") from None
        return _checked(_node_value(_C.regoNodeGet(terms, 0)))


def _checked(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    expected = value.pop(INTEGRITY_KEY, None)
    findings = value.get("findings")
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        raise ValueError("findings are not a list of objects")
    got = {
        "controls": ",".join(sorted(str(f.get("control")) for f in findings)),
        "top": "|".join(sorted(f"{k}={v}" for k, v in value.items() if isinstance(v, str))),
    }
    if expected != got:
        raise ValueError("the decoded result does not match what rego-cpp computed")
    return value


# Node kinds of the rego-cpp C API (regopy.rego_shared.NodeKind).
_TERM, _SCALAR, _ARRAY, _SET, _OBJECT = 1002, 1003, 1004, 1005, 1006
_INT_K, _FLOAT_K, _STRING_K, _TRUE_K, _FALSE_K, _NULL_K = 1008, 1009, 1010, 1011, 1012, 1013
# A quote not escaped by a backslash: a rego-cpp artifact inside an escaped string.
_RAW_QUOTE = re.compile(r'(?<!\\)((?:\\\\)*)"')


def _node_text(node: Any) -> str:
    size = _C.regoNodeValueSize(node)
    buf = ctypes.create_string_buffer(size)
    if _C.regoNodeValue(node, buf, size) != 0:
        raise ValueError("rego-cpp could not render a node value")
    return buf.value.decode("utf-8")


def _node_value(node: Any) -> Any:
    kind = _C.regoNodeType(node)
    if kind in (_TERM, _SCALAR):
        return _node_value(_C.regoNodeGet(node, 0))
    if kind == _STRING_K:
        text = _node_text(node)
        # A string that came from a policy literal is rendered as its token, quotes included.
        if len(text) >= 2 and text[0] == text[-1] == '"' and not _RAW_QUOTE.search(text[1:-1]):
            text = text[1:-1]
        try:
            return json.loads('"' + _RAW_QUOTE.sub(r'\1\\"', text) + '"', strict=False)
        except ValueError:
            # Plain text (trim* return strings unescaped): structure comes from the nodes, so
            # showing the text as it is cannot change the decision.
            return text
    if kind == _OBJECT:
        out = {}
        for i in range(_C.regoNodeSize(node)):
            item = _C.regoNodeGet(node, i)
            out[str(_node_value(_C.regoNodeGet(item, 0)))] = _node_value(_C.regoNodeGet(item, 1))
        return out
    if kind in (_ARRAY, _SET):
        return [_node_value(_C.regoNodeGet(node, i)) for i in range(_C.regoNodeSize(node))]
    if kind == _INT_K:
        return int(_node_text(node))
    if kind == _FLOAT_K:
        return float(_node_text(node))
    if kind in (_TRUE_K, _FALSE_K):
        return kind == _TRUE_K
    if kind == _NULL_K:
        return None
    raise ValueError(f"unexpected rego-cpp node kind {kind}")


def _escape(text: str) -> bytes:
    if '"' in text or "\\" in text or "\x00" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\u0000")
    return text.encode("utf-8")


_C = rs.rego
_STR, _INT, _FLOAT = _C.regoInputString, _C.regoInputInt, _C.regoInputFloat
_BOOL, _NULL, _ITEM = _C.regoInputBoolean, _C.regoInputNull, _C.regoInputObjectItem
_OBJ, _ARR = _C.regoInputObject, _C.regoInputArray


def _add(handle: Any, value: Any, path: str) -> None:
    kind = type(value)
    if kind is str:
        code = _STR(handle, _escape(value))
    elif kind is bool:
        code = _BOOL(handle, value)
    elif kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise InputRangeError(path or "/")
        code = _INT(handle, value)
    elif kind is float:
        code = _FLOAT(handle, value)
    elif value is None:
        code = _NULL(handle)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _STR(handle, _escape(str(key)))
            _add(handle, item, f"{path}/{key}")
            _ITEM(handle)
        code = _OBJ(handle, len(value))
    elif isinstance(value, list | tuple) or (
        isinstance(value, Sequence) and not isinstance(value, str | bytes)
    ):
        for i, item in enumerate(value):
            _add(handle, item, f"{path}/{i}")
        code = _ARR(handle, len(value))
    elif isinstance(value, bool | int | float | str):  # subclasses: IntEnum, numpy.float64
        base = next(t for t in (bool, int, float, str) if isinstance(value, t))
        _add(handle, base(value), path)
        return
    else:
        raise TypeError(f"cannot pass {kind.__name__} at {path or '/'} to rego-cpp")
    if code != 0:
        raise RuntimeError(f"rego-cpp refused the input value at {path or '/'} (code {code})")


class InputRangeError(ValueError):
    def __init__(self, path: str) -> None:
        super().__init__(f"input integer at {path} is outside the 64-bit range rego-cpp represents")


def set_input(interpreter: Any, document: Any) -> None:
    """regopy's Interpreter.set_input, with strings escaped and int64 range checked.

    Also about 30% faster than regopy's version: the C functions are called directly.
    """
    handle = _C.regoNewInput()
    try:
        _add(handle, document, "")
        rs.rego_set_input(interpreter._impl, handle)
    finally:
        _C.regoFreeInput(handle)


def _rewrite_source(source: str, used: set[str]) -> str:
    # A module that defines its own function of that name keeps calling it.
    own = {name for name in REWRITES if re.search(rf"^{name}\s*\(", source, re.MULTILINE)}
    pieces: list[str] = []
    pos = 0
    # Rewrite only code, never inside strings or comments.
    for m in _STRING_OR_COMMENT.finditer(source):
        pieces.append(_rewrite_code(source[pos : m.start()], used, own))
        pieces.append(m.group(0))
        pos = m.end()
    pieces.append(_rewrite_code(source[pos:], used, own))
    return "".join(pieces)


def _rewrite_code(code: str, used: set[str], own: set[str]) -> str:
    if "trim_space" not in own:
        # trim_space_u(x) is trim(x, go_space); with a plain reference as the argument the
        # call is inlined as that builtin call: a user function call costs about 100 us in
        # rego-cpp, a builtin a few. (Other arguments keep the function: finding the end of
        # a nested expression needs a parser, and they only occur in messages.)
        code, hits = _SIMPLE_TRIM.subn(rf"trim(\1, {_raw(GO_SPACE)})", code)
        if hits:
            used.add("trim_space")

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in own:
            return m.group(0)
        used.add(name)
        return f"data.{PACKAGE}.{REWRITES[name]}("

    return _CALL.sub(repl, code)
