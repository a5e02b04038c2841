"""Substring masking: generated secrets, echoed in part and in encoded forms, never survive."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncgate.redact.mask import MASK, WINDOW, SecretMask

pytestmark = pytest.mark.unit

TOKEN_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))
secrets_ = st.text(TOKEN_CHARS, min_size=WINDOW, max_size=64)
noise = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


def leaked_runs(text: str, secret: str) -> list[str]:
    """Every run of ``WINDOW`` characters of ``secret`` still in ``text``."""
    return [secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1) if secret[i : i + WINDOW] in text]


@st.composite
def echoes(draw: st.DrawFn) -> tuple[str, str]:
    """A secret and a text quoting a part of it (prefix, suffix, middle, whole) among noise."""
    secret = draw(secrets_)
    start = draw(st.integers(0, len(secret) - WINDOW))
    end = draw(st.integers(start + WINDOW, len(secret)))
    part = secret[start:end]
    encode = draw(st.sampled_from(["plain", "url", "json"]))
    shown = {"plain": part, "url": quote(part, safe=""), "json": json.dumps(part)[1:-1]}[encode]
    return secret, draw(noise) + shown + draw(noise)


@given(echoes())
@settings(max_examples=400)
def test_no_run_of_six_characters_of_a_secret_survives(case: tuple[str, str]) -> None:
    secret, text = case
    masked = SecretMask([secret]).mask(text)
    assert leaked_runs(masked, secret) == []
    assert MASK in masked


@given(secrets_, noise, noise)
def test_what_is_not_a_secret_is_kept(secret: str, before: str, after: str) -> None:
    mask = SecretMask([secret])
    for text in (before, after):
        if not any(text[i : i + WINDOW] in secret for i in range(len(text) - WINDOW + 1)):
            assert mask.mask(text) == text


@given(st.binary(min_size=0, max_size=8), secrets_, st.binary(min_size=0, max_size=8))
def test_base64_of_a_part_of_the_secret_is_masked(before: bytes, secret: str, after: bytes) -> None:
    # e.g. ``Authorization: Basic base64(login:password)`` quoted back by an API
    blob = base64.b64encode(before + secret.encode() + after).decode()
    masked = SecretMask([secret]).mask(blob)
    encoded_alone = base64.b64encode(secret.encode()).decode()
    # Only the one or two characters at each edge (mixing in neighbouring bytes) may remain.
    inner = encoded_alone[4:-4]
    assert len(inner) < WINDOW or inner not in masked


def test_short_secrets_are_masked_whole_and_tiny_ones_not_at_all() -> None:
    mask = SecretMask(["t0ken", "abc"])
    assert mask.mask("bad t0ken, abc") == f"bad {MASK}, abc"
    assert mask.mask("t0ke") == "t0ke"


def test_several_secrets_and_adjacent_runs() -> None:
    mask = SecretMask(["AAAAAAAAAA1", "zyxwvutsrq"])
    assert mask.mask("x AAAAAAzyxwvu y") == f"x {MASK} y"
