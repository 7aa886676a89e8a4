"""Email masking in the decision log: the same spans as the plain regular expression, in time
linear in the text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.audit.masking import Masker, email_spans

# The definition the masker implements (what the log masked before, in quadratic time): the
# oracle. Small alphabets make "@", dots and letters collide often.
PLAIN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
ALPHABETS = ["ab1Z._%+-@ \"'<>:,/", "a.@b1", "a@.", "ab@.\u00e91-"]


@settings(max_examples=4000, deadline=None)
@given(st.sampled_from(ALPHABETS).flatmap(lambda a: st.text(alphabet=a, max_size=80)))
def test_spans_match_the_regular_expression(text: str) -> None:
    assert list(email_spans(text)) == [m.span() for m in PLAIN.finditer(text)]


def test_spans_match_past_rfc_5321_lengths() -> None:
    # Not valid addresses, but still masked whole, as the expression masks them.
    for text in ["x" * 70 + "@example.com", "a@" + "b" * 300 + ".com", "a@b.cd9x@e.fg"]:
        assert list(email_spans(text)) == [m.span() for m in PLAIN.finditer(text)]


def test_masked_text_keeps_what_is_not_an_email() -> None:
    masker = Masker("mask")
    text = "owner alice@example.com, bob.smith+x@mail.example.co.uk; u@localhost a@b.c"
    assert masker.text(text) == "owner ***@***, ***@***; u@localhost a@b.c"


def test_a_local_part_past_64_characters_is_masked_whole() -> None:
    masker = Masker("mask")
    assert masker.text("a" * 100 + "@example.com") == "***@***"


def test_hash_mode_tokens_are_case_insensitive_and_keyed() -> None:
    one, other = Masker("hash", b"k" * 32), Masker("hash", b"j" * 32)
    assert one.text("Alice@Example.com") == one.text("alice@example.com")
    assert one.text("alice@example.com") != other.text("alice@example.com")
    assert one.text("alice@example.com").startswith("<email hmac:")
