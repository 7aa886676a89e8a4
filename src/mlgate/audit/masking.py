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
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError

MODES = ("hash", "mask", "none")
KEY_ENV = "MLGATE_AUDIT_HMAC_KEY"
# An email address: local part, "@", domain ending in a dot and two or more letters. It is
# found from each "@" outwards, within RFC 5321's bounds (local part 64, domain 255), so the
# work is linear in the text: the regular expression [local]+@[domain]+\.[A-Za-z]{2,}
# retried at every start position is quadratic in a run of local-part characters, and a
# deployer's 70,000-character annotation held the GIL (and so the whole webhook) for seconds.
_LOCAL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-"
_MAX_LOCAL, _MAX_DOMAIN = 64, 255
_CANDIDATE = re.compile(r"(?<=[A-Za-z0-9._%+-])@(?=[A-Za-z0-9.-])")  # consumes only "@"
_DOMAIN = re.compile(rf"[A-Za-z0-9.-]{{1,{_MAX_DOMAIN}}}")


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
    """(start, end) of each email address in ``text``, left to right, not overlapping."""
    done = 0
    for candidate in _CANDIDATE.finditer(text):
        at = candidate.start()
        if at <= done:
            continue
        window = text[max(done, at - _MAX_LOCAL) : at]
        start = at - _local_length(window)
        domain = _DOMAIN.match(text, at + 1)
        assert domain is not None  # the candidate has one domain character after "@"
        end = _domain_end(domain.group(0))
        if end:
            done = at + 1 + end
            yield start, done


def _local_length(window: str) -> int:
    """How many characters at the end of ``window`` are local-part characters."""
    return len(window) - len(window.rstrip(_LOCAL_CHARS))


def _domain_end(domain: str) -> int:
    """The length of the longest prefix of ``domain`` that ends in a dot and two or more
    letters (at least one character before the dot), or 0."""
    dot = len(domain)
    while (dot := domain.rfind(".", 0, dot)) > 0:
        letters = len(domain) - dot - 1 - len(domain[dot + 1 :].lstrip(string.ascii_letters))
        if letters >= 2:
            return dot + 1 + letters
    return 0
