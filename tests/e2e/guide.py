"""docs/operator-guide.md's "What kubectl shows" blocks, kept equal to a `make e2e` run's.

The scenarios write what kubectl printed to ``.e2e/run/transcripts/NAME.txt`` (first line:
the command as typed). Each transcript is one ``console`` block of the guide, found by that
first line. ``python tests/e2e/guide.py`` rewrites the blocks from the last run; the e2e test
fails when they differ in anything but the decision id, which is new on every run.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "operator-guide.md"
SHOWN = ("admitted", "denied", "warned")  # the transcripts the guide shows
_DECISION_ID = re.compile(r"decision [0-9a-f]{32}")


def _block(command: str) -> re.Pattern[str]:
    return re.compile(r"(```console\n)" + re.escape(command) + r"\n.*?(?=```)", re.DOTALL)


def without_decision_ids(text: str) -> str:
    return _DECISION_ID.sub("decision <id>", text)


def shown(guide: str, transcript: str) -> str | None:
    """The guide's block for the transcript's command, or None when it has none."""
    command = transcript.split("\n", 1)[0]
    match = _block(command).search(guide)
    return match.group(0).removeprefix(match.group(1)) if match else None


def updated(guide: str, transcript: str) -> str:
    command = transcript.split("\n", 1)[0]
    text = transcript if transcript.endswith("\n") else transcript + "\n"
    new, count = _block(command).subn(lambda m: m.group(1) + text, guide)
    if count != 1:
        raise SystemExit(f"{GUIDE}: {count} console blocks start with {command!r}, expected 1")
    return new


def main(transcripts: Path) -> None:
    guide = GUIDE.read_text()
    for name in SHOWN:
        guide = updated(guide, (transcripts / f"{name}.txt").read_text())
    GUIDE.write_text(guide)
    print(f"{GUIDE.relative_to(REPO)}: kubectl output from {transcripts}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / ".e2e" / "run" / "transcripts")
