"""OPA's ``sprintf``, written from the specifications of OPA's builtin and Go's ``fmt``.

OPA (v1/topdown/strings.go) hands ``fmt.Sprintf`` one Go value per array element:
- a number that fits Go's ``int`` as ``int``; another whole number as ``*big.Int``; any other
  number as ``float64``;
- a string as ``string``;
- anything else (boolean, null, array, object, set) as the *string* of its Rego term
  (``[1, "a"]``, ``{"k": true}``), so every verb sees a Go string for those.

The OPA Wasm target delegates ``sprintf`` to the host, and opa-py-wasm's own version is
best-effort. This one covers a defined part of Go's ``fmt`` exactly: the verbs ``%v %s %d %f
%F %e %E %g %G %%``, the flags ``-`` and ``0``, width and precision. Any other verb or flag is
refused with ``UnsupportedFormat``: at build time for literal format strings
(``mlgate.rego.wasm_build`` names the file and line), at evaluation time otherwise (a
fail-closed denial). ``tests/test_gofmt.py`` checks it against the real OPA server on generated
values. One difference cannot be removed here: the Wasm host ABI hands a *set* over as a JSON
array, so ``%v`` of a set prints ``[1, 2]`` where OPA prints ``{1, 2}``; the policy author guide
says to pass ``sort(s)`` instead.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

GO_INT_MIN, GO_INT_MAX = -(2**63), 2**63 - 1
FLOAT_VERBS = frozenset("fFeEgG")
SUPPORTED_VERBS = frozenset("vsd%") | FLOAT_VERBS
# One directive: %, flags, width, .precision, verb (Go also allows argument indexes and `*`
# widths; those are refused, like every flag but - and 0).
_DIRECTIVE = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?(.?)", re.DOTALL)


class UnsupportedFormat(ValueError):
    """A format directive outside the part of Go's fmt that is implemented exactly."""


def check_format(fmt: str) -> None:
    """Raises UnsupportedFormat when ``fmt`` uses a directive this module does not implement."""
    for m in _DIRECTIVE.finditer(fmt):
        flags, _width, _precision, verb = m.groups()
        if verb == "":
            raise UnsupportedFormat("a lone % at the end of the format")
        if verb not in SUPPORTED_VERBS:
            raise UnsupportedFormat(f"verb %{verb} is not supported (use %v, %s, %d, %f, %e, %g)")
        if set(flags) - {"-", "0"}:
            raise UnsupportedFormat(f"flags {flags!r} are not supported (only - and 0)")
        if verb == "%" and m.group(0) != "%%":
            raise UnsupportedFormat("%% takes no flags, width or precision")
        if "0" in flags and verb in "vs":
            raise UnsupportedFormat("the 0 flag is supported for numeric verbs only")
        if m.group(3) is not None and verb not in FLOAT_VERBS:
            raise UnsupportedFormat(f"%{verb} takes no precision here (only float verbs do)")


# ---------------------------------------------------------------------------------------
# Go values
# ---------------------------------------------------------------------------------------


class _Arg:
    """A Go value as OPA hands it to fmt.Sprintf: kind is int, big, float64 or string."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        self.kind = kind
        self.value = value

    @property
    def type_name(self) -> str:
        return {"int": "int64", "big": "*big.Int", "float64": "float64", "string": "string"}[
            self.kind
        ]


def _to_arg(value: Any) -> _Arg:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return _Arg("string", term_string(value))
    if isinstance(value, int):
        return _Arg("int" if GO_INT_MIN <= value <= GO_INT_MAX else "big", value)
    if isinstance(value, float):
        # OPA holds the number's text: a whole float reaches Python only from a text with a
        # fraction or an exponent ("1.0", "1e3"), which Go's Int() and big.Int reject too.
        return _Arg("float64", value)
    if isinstance(value, str):
        return _Arg("string", value)
    raise UnsupportedFormat(f"a {type(value).__name__} is not a Rego value")


# ---------------------------------------------------------------------------------------
# Rego term strings (ast.Term.String()) for non-string, non-number operands
# ---------------------------------------------------------------------------------------


def _go_quote(text: str) -> str:
    """Go's strconv.Quote: printable runes as they are, the rest escaped."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")  # a lone surrogate is no valid UTF-8: Go decodes U+FFFD
        elif ch.isprintable():
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _number_text(value: int | float) -> str:
    """A number as OPA's term prints it: the JSON text it was given (Python's json output)."""
    if isinstance(value, int):
        return str(value)
    return repr(value)


def term_string(value: Any) -> str:
    """ast.Term.String() of a JSON value (objects with sorted keys, Go-quoted strings)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _number_text(value)
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, list):
        return "[" + ", ".join(term_string(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-8", "surrogatepass"))
        return "{" + ", ".join(f"{_go_quote(k)}: {term_string(v)}" for k, v in items) + "}"
    raise UnsupportedFormat(f"a {type(value).__name__} is not a Rego value")


# ---------------------------------------------------------------------------------------
# Go's float formatting (strconv.FormatFloat as fmt uses it)
# ---------------------------------------------------------------------------------------


def _exponent(exp: int) -> str:
    return f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _shortest_g(x: float) -> str:
    """strconv.FormatFloat(x, 'g', -1, 64): shortest round-trip digits (what %v prints)."""
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign, digits, exp = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    # value = 0.ds * 10**dp
    dp = len(digits) + int(exp)
    e = dp - 1
    neg = "-" if sign else ""
    # Go decides on %e with "exp < -4 || exp >= eprec", eprec being 6 for the shortest form.
    if e < -4 or e >= 6:
        mantissa = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return neg + mantissa + _exponent(e)
    if dp <= 0:
        return neg + "0." + "0" * (-dp) + ds
    if dp >= len(ds):
        return neg + ds + "0" * (dp - len(ds))
    return neg + ds[:dp] + "." + ds[dp:]


def _format_float(x: float, verb: str, precision: int | None) -> str:
    if verb in "fF":
        return f"{x:.{6 if precision is None else precision}f}"
    if verb in "eE":
        text = f"{x:.{6 if precision is None else precision}e}"
        return text.upper() if verb == "E" else text
    # g/G (and v): shortest, or Go's %g with a precision (Python's %g matches it for the
    # ranges tested in tests/test_gofmt.py; trailing zeros removed, exponent at >= precision)
    text = _shortest_g(x) if precision is None else f"{x:.{max(precision, 1)}g}"
    return text.upper() if verb == "G" else text


# ---------------------------------------------------------------------------------------
# Sprintf
# ---------------------------------------------------------------------------------------


def _pad(text: str, width: int, left: bool, zero: bool, number: bool = True) -> str:
    """Go's padding to ``width`` runes: zeros go after a number's sign, before a string."""
    if width <= len(text):
        return text
    if left:
        return text + " " * (width - len(text))
    if zero:
        sign = text[0] if number and text[:1] in ("+", "-") else ""
        body = text[len(sign) :]
        return sign + "0" * (width - len(text)) + body
    return " " * (width - len(text)) + text


def _go_int(value: int, width: int, left: bool, zero: bool, precision: int | None) -> str:
    """fmtInteger: precision is a minimum digit count; the 0 flag counts only without it."""
    digits = str(abs(value))
    if precision is not None:
        digits = "" if precision == 0 and value == 0 else digits.rjust(precision, "0")
    elif zero and not left and width:
        digits = digits.rjust(width - (value < 0), "0")
    return _pad(("-" if value < 0 else "") + digits, width, left, False)


def _render(arg: _Arg, verb: str, flags: str, width: int, precision: int | None) -> str:
    left, zero = "-" in flags, "0" in flags and "-" not in flags
    if arg.kind == "string":
        if verb in "vs":
            return _pad(arg.value, width, left, False)
        # A bad verb prints the value with %v and the directive's flags: precision truncates
        # the string (in runes) and the 0 flag pads it with zeros.
        text = arg.value if precision is None else arg.value[:precision]
        return f"%!{verb}(string={_pad(text, width, left, zero, number=False)})"
    if arg.kind == "big":
        if verb in "vsd":
            return _pad(str(arg.value), width, left, zero and verb == "d")
        return f"%!{verb}(big.Int={arg.value})"  # big.Int formats its own bad verbs, unpadded
    if arg.kind == "int":
        if verb in "vd":
            return _go_int(arg.value, width, left, zero and verb == "d", None)
        return f"%!{verb}(int64={_go_int(arg.value, width, left, zero, precision)})"
    # float64 (precision only ever comes with a float verb: check_format)
    if verb == "v":
        return _pad(_shortest_g(arg.value), width, left, zero)
    if verb in FLOAT_VERBS:
        return _pad(_format_float(arg.value, verb, precision), width, left, zero)
    return f"%!{verb}(float64={_pad(_shortest_g(arg.value), width, left, zero)})"


def _bare(arg: _Arg) -> str:
    """%v of an argument, as Go prints it in %!(EXTRA ...)."""
    return _shortest_g(arg.value) if arg.kind == "float64" else str(arg.value)


def sprintf(fmt: Any, operands: Any) -> str:
    """OPA's ``sprintf(format, values)``; UnsupportedFormat outside the implemented part."""
    if not isinstance(fmt, str):
        raise UnsupportedFormat("sprintf: operand 1 must be a string")
    if not isinstance(operands, list):
        raise UnsupportedFormat("sprintf: operand 2 must be an array")
    check_format(fmt)
    args = [_to_arg(v) for v in operands]
    # OPA's fast path for sprintf("%d", [int]) gives the same text as the general one.
    out: list[str] = []
    pos = used = 0
    for m in _DIRECTIVE.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        prec = None if precision is None else int(precision or 0)
        out.append(_render(arg, verb, flags, int(width or 0), prec))
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{a.type_name}={_bare(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
