"""Personal data in the decision log: masked before it is written (GDPR Art. 25, 32).

Usernames are replaced by a keyed hash (HMAC-SHA256): the same person maps to the same
token, so an auditor can still follow one deployer's decisions, but the token cannot be
reversed or recomputed without the key (a plain hash of an email is a lookup away).
Service accounts and ``system:`` identities are not personal data and stay readable.
Email addresses anywhere in a stored string (a violation message quoting a model card owner,
for instance) are replaced the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError

MODES = ("hash", "mask", "none")
KEY_ENV = "MLGATE_AUDIT_HMAC_KEY"
# An email address: local part, "@", domain ending in a dot and two or more letters, as the
# regular expression [local]+@[domain]+\.[A-Za-z]{2,} defines it, found in time linear in the
# text. That expression, retried at every start position, is quadratic in a run of
# local-part characters: a deployer's 70,000-character annotation held the GIL (and so the
# whole webhook) for seconds. Here each run is read once: a local run starts only where a
# run starts (the lookbehind) and is taken whole (possessive), and the domain runs after two
# "@" cannot overlap (a domain holds no "@").
_LOCAL_RUN = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++(?=@[A-Za-z0-9.-])")
_DOMAIN_RUN = re.compile(r"[A-Za-z0-9.-]++")
_LETTERS = re.compile(r"[A-Za-z]++")


def load_or_create_key(key_file: Path | None, db_path: Path | None) -> bytes:
    """The HMAC key: ``$MLGATE_AUDIT_HMAC_KEY``, a key file, or one created beside the DB.

    A key created on first use is kept (mode 0600) so that tokens stay stable across restarts.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode()
    path = key_file or (Path(f"{db_path}.key") if db_path is not None else None)
    if path is None:
        return secrets.token_bytes(32)
    try:
        if path.exists():
            key = path.read_bytes().strip()
            if len(key) < 16:
                raise MlgateError("audit HMAC key is shorter than 16 bytes", location=str(path))
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key
    except FileExistsError:  # another worker created it between exists() and open()
        return path.read_bytes().strip()
    except OSError as err:
        raise MlgateError(
            f"cannot read or create the audit HMAC key: {err}", location=str(path)
        ) from None


class Masker:
    def __init__(self, mode: str = "hash", key: bytes | None = None) -> None:
        if mode not in MODES:
            raise MlgateError(f"unknown audit masking mode {mode!r} (expected {', '.join(MODES)})")
        self.mode = mode
        self._key = key if key is not None else secrets.token_bytes(32)
        self._tokens: dict[str, str] = {}  # deployers are few; an HMAC per request is not free

    def token(self, value: str) -> str:
        token = self._tokens.get(value)
        if token is None:
            digest = hmac.new(
                self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256
            ).hexdigest()
            token = f"hmac:{digest[:20]}"
            if len(self._tokens) >= 10_000:
                self._tokens.clear()
            self._tokens[value] = token
        return token

    def user(self, username: str) -> str:
        if not username or self.mode == "none" or username.startswith("system:"):
            return username
        if self.mode == "mask":
            return username[0] + "***"
        return self.token(username)

    def text(self, value: str) -> str:
        """Masks email addresses inside free text."""
        if self.mode == "none" or "@" not in value:
            return value
        out: list[str] = []
        done = 0
        for start, end in email_spans(value):
            email = value[start:end]
            out += [value[done:start], "***@***" if self.mode == "mask" else self._email(email)]
            done = end
        if not out:
            return value
        out.append(value[done:])
        return "".join(out)

    def _email(self, email: str) -> str:
        return f"<email {self.token(email.lower())}>"

    def scrub(self, value: Any) -> Any:
        """A copy of a JSON value with every string passed through ``text``."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value


def email_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each email address in ``text``, left to right, not overlapping: the
    spans the regular expression above finds."""
    done = 0
    for local in _LOCAL_RUN.finditer(text):
        at = local.end()
        start = max(local.start(), done)  # a run may begin inside the last match's domain
        if start >= at:
            continue
        domain = _DOMAIN_RUN.match(text, at + 1)
        assert domain is not None  # the lookahead saw one domain character after "@"
        end = _domain_end(text, at + 1, domain.end())
        if end:
            yield start, end
            done = end


def _domain_end(text: str, begin: int, stop: int) -> int:
    r"""Where the longest match of [domain]+\.[A-Za-z]{2,} in ``text[begin:stop]`` ends, or 0:
    after the letters of the rightmost dot (not the first character) that two letters follow."""
    dot = stop
    while (dot := text.rfind(".", begin, dot)) > begin:
        letters = _LETTERS.match(text, dot + 1, stop)
        if letters is not None and letters.end() - dot > 2:
            return letters.end()
    return 0
