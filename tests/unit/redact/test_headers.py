"""Credential-bearing names, and their values wherever a text quotes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncgate.redact.headers import is_credential_name, mask_echoed

pytestmark = pytest.mark.unit

VALUES = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/="),
    min_size=4,
    max_size=40,
)
NAMES = st.sampled_from(
    [
        "Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key", "X-Auth-Token", "x-api-key",
        "api_key", "access_token", "client_secret", "password", "X-Session-Id", "X-Signature",
        "Private-Token", "refresh_token", "X-Vendor-Secret",
    ]
)  # fmt: skip
SHAPES = st.sampled_from(["{n}: {v}", "{n}={v}", '"{n}": "{v}"', "'{n}': '{v}'", "?{n}={v}&page=2"])


@pytest.mark.parametrize(
    "name",
    ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Api-Key",
     "X-Auth-Token", "X-Vendor-Token", "client_secret", "sslpassword", "Idempotency-Key"],
)  # fmt: skip
def test_credential_names(name: str) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize("name", ["Accept", "Content-Type", "User-Agent", "X-Request-Id", "Accept-Encoding"])
def test_ordinary_names(name: str) -> None:
    assert not is_credential_name(name)


@given(NAMES, VALUES, SHAPES)
def test_an_echoed_credential_value_is_masked(name: str, value: str, shape: str) -> None:
    text = "HTTP 401: " + shape.format(n=name, v=value) + " was refused"
    assert value not in mask_echoed(text)


@given(VALUES)
def test_auth_schemes_and_cookies(value: str) -> None:
    for text in (f"Authorization: Bearer {value}", f"got Basic {value}", f"Set-Cookie: sid={value}; Path=/"):
        assert value not in mask_echoed(text)


def test_syncgate_messages_keep_their_words() -> None:
    text = 'duplicate key value violates unique constraint: Key (id)=(5) already exists; see "token" docs'
    assert mask_echoed(text) == text
