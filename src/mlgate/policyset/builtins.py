"""Load-time check of the builtins a Rego module calls.

Two kinds of call are refused before a policy set is accepted, naming the file and line:
- builtins that would make a decision non-deterministic or do I/O (``http.send``,
  ``time.now_ns``, ``rand.intn``): the same input must get the same decision everywhere;
- ``sprintf`` (or ``lib.format``) with a literal format that uses a directive outside the part of Go's ``fmt``
  the Wasm engine's host implements exactly (``mlgate.rego.gofmt``).
Builtins that OPA's Wasm target leaves to the host and mlgate does not implement are refused
when the module is built (``mlgate.rego.wasm_build``); OPA's compiler rejects unknown ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mlgate.rego.gofmt import UnsupportedFormat, check_format

# Builtins that are refused, with the replacement the policy author should use.
UNSAFE_BUILTINS: dict[str, str] = {
    "http.send": "policies must not do network I/O; compute evidence in Python",
    "net.lookup_ip_addr": "policies must not do network I/O; compute evidence in Python",
    "opa.runtime": "the decision must not depend on the process that evaluates it",
    "rand.intn": "decisions must be deterministic",
    "uuid.rfc4122": "decisions must be deterministic",
    "time.now_ns": "use input.context.now_ns so every engine and every test agrees",
}
UNSAFE_PREFIXES: dict[str, str] = {}
# lib.format (policies/lib.rego) hands any template it does not compute itself to sprintf.
_SPRINTF_LITERAL = re.compile(
    r"(?<![\w.])(?:sprintf|lib\.format)\s*\(\s*(\"(?:[^\"\\\n]|\\.)*\"|`[^`]*`)"
)

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


def defined_functions(sources: Iterable[str]) -> set[str]:
    """Names of the functions the modules define (``f(x) := ...``, ``f(x) if ...``)."""
    names: set[str] = set()
    for source in sources:
        names |= set(_FUNC_DEF.findall(_blank_strings(_strip_comments(source))[0]))
    return names


def _literal_text(literal: str) -> str:
    """The value of a Rego string literal (JSON escapes in "...", none in `...`)."""
    if literal.startswith("`"):
        return literal[1:-1]
    return str(json.loads(literal))


def check_module(
    file: str,
    source: str,
    is_builtin: Callable[[str], bool] | None = None,
    user_functions: Iterable[str] = (),
) -> list[BuiltinProblem]:
    """Problems with the builtins ``source`` calls; ``[]`` if it is safe to load.

    ``is_builtin``, if given, also flags calls of names it does not know.
    """
    stripped = _strip_comments(source)
    code, _literals = _blank_strings(stripped)
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
        if reason is None and is_builtin is not None and not is_builtin(name):
            reason = "not an OPA builtin (nor a function defined in this module)"
        if reason:
            problems.append(BuiltinProblem(file, line, name, reason))
    for m in _SPRINTF_LITERAL.finditer(stripped):
        try:
            check_format(_literal_text(m.group(1)))
        except (UnsupportedFormat, ValueError) as err:
            line = stripped.count("\n", 0, m.start()) + 1
            problems.append(
                BuiltinProblem(
                    file, line, "sprintf", f"format {m.group(1)}: {err} (see mlgate.rego.gofmt)"
                )
            )
    return problems
