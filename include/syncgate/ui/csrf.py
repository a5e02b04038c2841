"""CSRF protection for the UI's one form (resolving a parked conflict): a double-submit token.

The flow page sets a random token in an HttpOnly, ``SameSite=Strict`` cookie scoped to the
app's ``/flows`` path and puts the same token in the form; a POST must carry both, equal.
Another site can neither read the token nor (SameSite) send the cookie; a browser that says
the request came from another site (``Sec-Fetch-Site``) is refused before the token is looked at.
Airflow's own authentication still applies to the POST (the viewer must have edit rights).
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

COOKIE = "syncgate_csrf"
FIELD = "csrf_token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)
_SAME_SITE = ("same-origin", "none")  # "none": typed or bookmarked, not from another page


def page_token(request: Request) -> tuple[str, bool]:
    """The token for a page's forms, and whether the cookie must be (re)set."""
    current = request.cookies.get(COOKIE, "")
    if _TOKEN.match(current):
        return current, False
    return secrets.token_urlsafe(32), True


def set_cookie(response: Response, request: Request, token: str, path: str) -> None:
    response.set_cookie(
        COOKIE, token, path=path, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def problem(request: Request, submitted: str | None) -> str | None:
    """Why a POST must be refused as a possible cross-site request, or None when it may proceed."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in _SAME_SITE:
        return "the request came from another site"
    cookie = request.cookies.get(COOKIE, "")
    if not _TOKEN.match(cookie) or not submitted or not hmac.compare_digest(cookie, submitted):
        return "the form's security token is missing or stale: reload the page and try again"
    return None
