"""The outermost ASGI layer: bearer auth, request counting and fault injection.

It runs outside Starlette's own middleware on purpose: a ``drop`` must reach uvicorn's raw
``send`` (to close the socket with nothing written), and Starlette's error middleware would
otherwise turn any exception into a tidy 500.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from .faults import PAGING_PARAMS, Fault
from .state import CrmState

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = ("/health",)
FAULT_BODIES = {
    "429": {"error": "rate limited"},
    "500": {"error": "internal server error (injected)"},
    "502": {"error": "bad gateway (injected)"},
    "503": {"error": "service unavailable (injected)"},
}


async def send_json(send: Send, status: int, body: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A complete JSON response written straight to the ASGI ``send``."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _authorized(scope: Scope, token: str) -> bool:
    expected = f"Bearer {token}".encode()
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return hmac.compare_digest(value, expected)
    return False


async def gate(app: ASGIApp, state: CrmState, token: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Authenticate, count, then either fire the next matching fault or pass the request on."""
    if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
        await app(scope, receive, send)
        return
    if not _authorized(scope, token):
        await send_json(send, 401, {"error": "unauthorized"}, [(b"www-authenticate", b"Bearer")])
        return
    path = scope["path"]
    if path.startswith("/_admin"):
        await app(scope, receive, send)
        return
    state.count_request(path)
    fault = state.take_fault(path)
    if fault is None:
        await app(scope, receive, send)
        return
    log.info("Injecting fault %s on %s", fault.kind, path)
    await _fire(fault, app, scope, receive, send)


async def _discard(message: Message) -> None:
    return None


async def _fire(fault: Fault, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    if fault.apply:
        # The request is served (a write is applied) and its answer lost: what a client sees
        # when a gateway times out after the backend committed. Retrying must not apply twice.
        await app(scope, receive, _discard)
    if fault.kind in FAULT_BODIES:
        headers = []
        if fault.retry_after is not None:
            headers.append((b"retry-after", fault.retry_after.encode("latin-1", "replace")))
        await send_json(send, int(fault.kind), FAULT_BODIES[fault.kind], headers)
    elif fault.kind == "slow":
        await asyncio.sleep(fault.delay)
        await app(scope, receive, send)
    elif fault.kind == "truncate":
        await _truncated(app, scope, receive, send)
    elif fault.kind == "loop":
        query = b"&".join(
            part
            for part in scope.get("query_string", b"").split(b"&")
            if part.split(b"=")[0] not in PAGING_PARAMS
        )
        await app(dict(scope, query_string=query), receive, send)
    else:
        await _drop(send)


async def _truncated(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The real response with its body cut in half; framing stays valid, the JSON does not."""
    # Ask for an identity body so the cut lands mid-JSON, not mid-gzip-stream.
    scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k != b"accept-encoding"])
    start: Message = {}
    chunks: list[bytes] = []

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, collect)
    body = b"".join(chunks)
    cut = body[: len(body) // 2] if len(body) > 1 else body
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(cut)).encode()))
    await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
    await send({"type": "http.response.body", "body": cut})


async def _drop(send: Send) -> None:
    """Close the connection without writing a byte of response."""
    # uvicorn passes its per-request cycle's bound ``send``; the cycle owns the transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        # Let connection_lost run, so uvicorn sees a client gone rather than an app that
        # returned without a response (which it would answer with a 500).
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Another server: start a response, then fail mid-body so the server cuts the connection.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
    raise ConnectionAbortedError("injected drop")
