"""What a user sees from kubectl when mlgate answers, parsed exactly.

kubectl prints a webhook denial as one line:
``Error from server (Forbidden): error when creating "STDIN": admission webhook
"validate.mlgate.io" denied the request: <mlgate's message>``; mlgate's message is
``mlgate denied KIND NS/NAME: C1, C2. C1: <finding>. fix: <remediation>. decision <id>``
(server/admission.py ``denial_message``). Warnings come as ``Warning: <text>`` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WEBHOOK = "validate.mlgate.io"
_DENIAL = re.compile(
    r"^Error from server \(Forbidden\): error when (?P<verb>creating|replacing) \"STDIN\": "
    rf"admission webhook \"{re.escape(WEBHOOK)}\" denied the request: "
    r"mlgate denied (?P<kind>[A-Za-z]+) (?P<namespace>[a-z0-9-]+)/(?P<name>[a-z0-9.-]+): "
    r"(?P<controls>[A-Z0-9-]+(?:, [A-Z0-9-]+)*(?: \(\+\d+ more\))?)\. "
    r"(?P<first>[A-Z0-9-]+): (?P<finding>.+?)\. fix: (?P<fix>.+)\. "
    r"decision (?P<decision>[0-9a-f-]{8,})\n\Z",
    re.DOTALL,
)


@dataclass(frozen=True)
class Denial:
    verb: str
    kind: str
    namespace: str
    name: str
    controls: list[str]
    first: str
    finding: str
    fix: str
    decision_id: str
    more: int


def parse_denial(stderr: str) -> Denial:
    match = _DENIAL.match(stderr)
    if match is None:
        raise AssertionError(f"not an mlgate denial as kubectl prints it:\n{stderr!r}")
    listed = match["controls"]
    more = re.search(r" \(\+(\d+) more\)$", listed)
    names = listed[: more.start()] if more else listed
    return Denial(
        verb=match["verb"],
        kind=match["kind"],
        namespace=match["namespace"],
        name=match["name"],
        controls=names.split(", "),
        first=match["first"],
        finding=match["finding"],
        fix=match["fix"],
        decision_id=match["decision"],
        more=int(more[1]) if more else 0,
    )


def warnings(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    stray = [line for line in lines if not line.startswith("Warning: ")]
    if stray:
        raise AssertionError(f"kubectl printed more than warnings: {stray!r}")
    return [line.removeprefix("Warning: ") for line in lines]
