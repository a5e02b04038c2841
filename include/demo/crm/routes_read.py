"""List endpoints, one pagination style each, plus a single-customer read."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .jsonbytes import dumps
from .pagination import InvalidCursorError, decode_cursor, encode_cursor, link_header
from .records import parse_ts
from .responses import error, json_response, raw_json, state_of

router = APIRouter()


def _since(text: str | None) -> str | None:
    # Raises ValueError; callers turn it into a 422 naming updated_since.
    return parse_ts(text) if text else None


@router.get("/v1/customers")
def customers_by_page(
    request: Request,
    page: int = Query(1, ge=1),
    per_page: int = Query(100, ge=1, le=1000),
    updated_since: str | None = None,
    status: Literal["all", "active", "inactive", "lead"] = "all",
    email_domain: str | None = Query(None, min_length=1, max_length=253),
) -> Response:
    """Page-number pagination: ``{"data": {"items": [...]}, "meta": {page, per_page, total}}``."""
    try:
        since = _since(updated_since)
    except ValueError:
        return error(422, "updated_since must be an ISO-8601 timestamp", "updated_since")
    window = state_of(request).window(
        "customers",
        per_page,
        offset=(page - 1) * per_page,
        since=since,
        status=None if status == "all" else status,
        email_domain=email_domain,
    )
    meta = {"page": page, "per_page": per_page, "total": window.total}
    return raw_json(b'{"data":{"items":' + window.body + b'},"meta":' + dumps(meta) + b"}")


@router.get("/v1/contacts")
def contacts_by_offset(
    request: Request,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    updated_since: str | None = None,
) -> Response:
    """Offset pagination: ``{"items": [...], "total": N}``."""
    try:
        since = _since(updated_since)
    except ValueError:
        return error(422, "updated_since must be an ISO-8601 timestamp", "updated_since")
    window = state_of(request).window("contacts", limit, offset=offset, since=since)
    return raw_json(b'{"items":' + window.body + b',"total":' + str(window.total).encode() + b"}")


@router.get("/v2/customers")
def customers_by_cursor(
    request: Request,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    updated_since: str | None = None,
) -> Response:
    """Keyset pagination with an opaque cursor: ``{"data": [...], "meta": {"next": token | null}}``."""
    try:
        since = _since(updated_since)
    except ValueError:
        return error(422, "updated_since must be an ISO-8601 timestamp", "updated_since")
    try:
        after = decode_cursor(cursor) if cursor else None
    except InvalidCursorError as exc:
        return error(422, str(exc), "cursor")
    window = state_of(request).window("customers", limit, since=since, after=after)
    token = encode_cursor(window.last) if window.more and window.last else None
    return raw_json(b'{"data":' + window.body + b',"meta":' + dumps({"next": token}) + b"}")


@router.get("/v3/customers")
def customers_by_link(
    request: Request,
    page: int = Query(1, ge=1),
    per_page: int = Query(100, ge=1, le=1000),
    updated_since: str | None = None,
) -> Response:
    """A bare JSON array; ``Link: <url>; rel="next"`` while more pages exist."""
    try:
        since = _since(updated_since)
    except ValueError:
        return error(422, "updated_since must be an ISO-8601 timestamp", "updated_since")
    window = state_of(request).window("customers", per_page, offset=(page - 1) * per_page, since=since)
    headers = {}
    if window.more:
        headers["Link"] = link_header(str(request.url.include_query_params(page=page + 1, per_page=per_page)))
    return raw_json(window.body, headers=headers)


@router.get("/v1/customers/{customer_id}")
def customer(request: Request, customer_id: int) -> Response:
    record = state_of(request).get("customers", customer_id)
    return error(404, "customer not found") if record is None else json_response(record)
