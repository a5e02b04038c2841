"""JSON encoding shared by the routes: stdlib json straight to bytes, no response models."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from .jsonbytes import dumps
from .state import CrmState


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return raw_json(dumps(body), status, headers)


def raw_json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response around JSON already encoded (list pages are assembled from cached records)."""
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error(status: int, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return json_response(body, status)


def state_of(request: Request) -> CrmState:
    state: CrmState = request.app.state.crm
    return state
