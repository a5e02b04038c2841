"""FastAPI app factory for the demo CRM."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import Response

from . import routes_admin, routes_read, routes_write
from .gate import Receive, Scope, Send, gate
from .responses import error, json_response
from .state import CrmState


class CrmApp(FastAPI):
    """FastAPI with the auth/fault gate wrapped around everything, Starlette's middleware included."""

    crm_token: str
    crm_state: CrmState

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        await gate(super().__call__, self.crm_state, self.crm_token, scope, receive, send)  # type: ignore[arg-type]


async def _invalid_request(request: Request, exc: Exception) -> Response:
    # FastAPI's default 422 body is a list of pydantic errors; the contract is {"error", "field"}.
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    return error(422, str(first.get("msg", "invalid request")), field)


def create_app(
    token: str,
    customers: int = 1_000,
    contacts: int = 2_000,
    seed: int = 42,
    *,
    state: CrmState | None = None,
    gzip_level: int = 1,
) -> CrmApp:
    """The CRM app serving ``state`` (or freshly generated data) to clients holding ``token``."""
    if not token:
        raise ValueError("a bearer token is required")
    app = CrmApp(title="syncgate demo CRM", docs_url=None, redoc_url=None, openapi_url=None)
    app.crm_token = token
    app.crm_state = state or CrmState(customers, contacts, seed)
    app.state.crm = app.crm_state
    # Level 1 (nginx's default) instead of Starlette's 9: a 1,000-record page still shrinks ~4.5x,
    # at a fifth of the CPU, and the server shares its cores with the syncing client.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=gzip_level)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.include_router(routes_read.router)
    app.include_router(routes_write.router)
    app.include_router(routes_admin.router)

    @app.get("/health")
    def health() -> Response:
        return json_response({"status": "ok"})

    return app
