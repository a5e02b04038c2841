"""The resolve form's CSRF check: a double-submit token, and no request another site started."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from syncgate.ui.csrf import COOKIE, page_token, problem, set_cookie

pytestmark = pytest.mark.unit

TOKEN = "A" * 43


def request(cookie: str | None = None, fetch_site: str | None = None, scheme: str = "http") -> Request:
    headers = []
    if cookie is not None:
        headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    if fetch_site is not None:
        headers.append((b"sec-fetch-site", fetch_site.encode()))
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "scheme": scheme,
                    "server": ("h", 80), "query_string": b""})  # fmt: skip


def test_a_page_reuses_a_well_formed_cookie_and_mints_one_otherwise() -> None:
    assert page_token(request(TOKEN)) == (TOKEN, False)
    minted, new = page_token(request("short"))
    assert new and len(minted) == 43 and minted != TOKEN
    assert page_token(request())[0] != page_token(request())[0]


def test_the_cookie_is_httponly_strict_and_scoped() -> None:
    response = Response()
    set_cookie(response, request(scheme="https"), TOKEN, "/syncgate/flows")
    header = response.headers["set-cookie"]
    for part in (f"{COOKIE}={TOKEN}", "HttpOnly", "Path=/syncgate/flows", "SameSite=strict", "Secure"):
        assert part in header
    plain = Response()
    set_cookie(plain, request(), TOKEN, "/flows")
    assert "Secure" not in plain.headers["set-cookie"]


@pytest.mark.parametrize(
    ("cookie", "submitted", "fetch_site", "refused"),
    [
        (TOKEN, TOKEN, None, None),
        (TOKEN, TOKEN, "same-origin", None),
        (TOKEN, TOKEN, "none", None),
        (TOKEN, TOKEN, "cross-site", "another site"),
        (TOKEN, TOKEN, "same-site", "another site"),  # a sibling subdomain is another site here
        (TOKEN, None, None, "missing or stale"),
        (TOKEN, "B" * 43, None, "missing or stale"),
        (None, TOKEN, None, "missing or stale"),
        ("", "", None, "missing or stale"),
    ],
)
def test_a_post_needs_the_same_token_in_cookie_and_form(
    cookie: str | None, submitted: str | None, fetch_site: str | None, refused: str | None
) -> None:
    found = problem(request(cookie, fetch_site), submitted)
    assert (found is None) if refused is None else (found is not None and refused in found)
