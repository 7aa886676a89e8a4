"""Load-time check of the builtins a Rego module calls.

rego-cpp compiles a call to a builtin it does not know (``http.send``, ``net.cidr_contains``)
without complaint and evaluates it to *undefined*, which silently switches a deny rule off.
So every call is checked before the policy set is accepted: unknown or unsafe builtins fail
the load with the file, line and builtin named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Builtins that rego-cpp accepts but that diverge from OPA in a way that can fail open,
# with the replacement the policy author should use.
UNSAFE_BUILTINS: dict[str, str] = {
    "time.parse_rfc3339_ns": "rego-cpp cannot parse 'Z' timestamps; use the *_ns integers mlgate puts in the input",
    "time.parse_ns": "timestamps are passed as *_ns integers; parse them in Python",
    "time.parse_duration_ns": "put durations in params.yaml as integers (seconds or ns)",
    "io.jwt.decode": "fails with a wrapper error in rego-cpp; verify tokens in Python evidence",
    "io.jwt.decode_verify": "verify tokens in Python evidence",
    "http.send": "policies must not do network I/O; compute evidence in Python",
    "json.match_schema": "validate with JSON Schema in Python (evidence.schema)",
    "json.verify_schema": "validate with JSON Schema in Python (evidence.schema)",
    "opa.runtime": "not available in the embedded engine",
    "rand.intn": "decisions must be deterministic",
    "uuid.rfc4122": "decisions must be deterministic",
    "time.now_ns": "use input.context.now_ns so both backends and tests agree",
    # Found by `make conformance` (docs/conformance.md): rego-cpp answers differently from OPA.
    "strings.replace_n": "rego-cpp replaces sequentially (replaced text is re-scanned) and "
    "hangs on an empty key; chain replace() calls",
    "semver.compare": "rego-cpp accepts invalid versions (leading zeros) and orders build "
    "metadata; compare versions in Python evidence",
    "semver.is_valid": "rego-cpp accepts leading zeros and empty pre-release/build sections",
    "uuid.parse": "rego-cpp is undefined for some valid UUIDs",
    "uri.parse": "rego-cpp accepts invalid userinfo and percent-encoded hosts",
    "uri.is_valid": "rego-cpp accepts invalid userinfo and percent-encoded hosts",
    "json.unmarshal": "rego-cpp is undefined for numbers with large exponents; parse JSON in "
    "Python evidence",
}
UNSAFE_PREFIXES: dict[str, str] = {
    "net.": "net.* builtins are not supported by rego-cpp",
    "rego.metadata.": "rego.metadata.* is not supported by rego-cpp",
    "crypto.x509.": "certificate checks belong in Python evidence",
}
# ECMAScript regex (rego-cpp) rejects these RE2 forms at evaluation time.
UNSAFE_REGEX = re.compile(r"\(\?[imsU]+\)|\\[pP]\{")
# rego-cpp keeps escape sequences of double-quoted literals verbatim: count("\n") is 2 and
# "\u00e9" == "é" is false there, true on OPA. Raw (backtick) strings mean the same on both.
ESCAPED_LITERAL = re.compile(r'^"[^"]*\\')

KEYWORDS = frozenset(
    [
        "if",
        "else",
        "not",
        "some",
        "every",
        "in",
        "with",
        "as",
        "contains",
        "default",
        "import",
        "package",
        "true",
        "false",
        "null",
        "set",
    ]
)
_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\(")
_FUNC_DEF = re.compile(r"^([A-Za-z_]\w*)\s*\([^()]*\)\s*(?::=|=|if\b|\{)", re.MULTILINE)
_IMPORT = re.compile(r"^\s*import\s+(data(?:\.\w+)+)(?:\s+as\s+(\w+))?", re.MULTILINE)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`')


@dataclass(frozen=True)
class BuiltinProblem:
    file: str
    line: int
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.name}: {self.reason}"


def _strip_comments(source: str) -> str:
    out_lines = []
    for line in source.splitlines():
        # A '#' inside a string does not start a comment.
        in_str = False
        cut = len(line)
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\" and in_str:
                i += 2
                continue
            if ch == '"':
                in_str = not in_str
            elif ch == "#" and not in_str:
                cut = i
                break
            i += 1
        out_lines.append(line[:cut])
    return "\n".join(out_lines)


def _blank_strings(source: str) -> tuple[str, list[tuple[int, str]]]:
    """Replaces string literals by same-length blanks (keeping newlines); returns the literals."""
    literals: list[tuple[int, str]] = []

    def repl(m: re.Match[str]) -> str:
        literals.append((m.start(), m.group(0)))
        return "".join("\n" if c == "\n" else " " for c in m.group(0))

    return _STRING.sub(repl, source), literals


def check_module(
    file: str, source: str, is_builtin: Callable[[str], bool], user_functions: Iterable[str] = ()
) -> list[BuiltinProblem]:
    """Problems with the builtins ``source`` calls; ``[]`` if it is safe to load."""
    code, literals = _blank_strings(_strip_comments(source))
    local = set(_FUNC_DEF.findall(code)) | set(user_functions)
    aliases = {alias or path.rsplit(".", 1)[-1] for path, alias in _IMPORT.findall(code)}
    problems: list[BuiltinProblem] = []
    for m in _CALL.finditer(code):
        name = m.group(1)
        head = name.split(".", 1)[0]
        if name in KEYWORDS or head == "data" or head in aliases or name in local:
            continue
        line = code.count("\n", 0, m.start()) + 1
        reason = UNSAFE_BUILTINS.get(name) or next(
            (why for prefix, why in UNSAFE_PREFIXES.items() if name.startswith(prefix)), None
        )
        if reason is None and not is_builtin(name):
            reason = (
                "not a builtin the embedded engine (rego-cpp) knows; it would evaluate to undefined"
            )
        if reason:
            problems.append(BuiltinProblem(file, line, name, reason))
    for offset, literal in literals:
        if ESCAPED_LITERAL.match(literal):
            line = code.count("\n", 0, offset) + 1
            problems.append(
                BuiltinProblem(
                    file,
                    line,
                    literal,
                    "rego-cpp does not decode escape sequences in double-quoted strings; "
                    "use a raw `...` string or the character itself",
                )
            )
        if UNSAFE_REGEX.search(literal):
            line = code.count("\n", 0, offset) + 1
            problems.append(
                BuiltinProblem(
                    file, line, literal, "RE2-only regex syntax ((?i), \\p{..}) fails in rego-cpp"
                )
            )
    return problems
