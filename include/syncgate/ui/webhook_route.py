"""``POST /webhooks/{flow_id}``: the Standard Webhooks receiver (``/syncgate/webhooks/...`` in Airflow).

The one route of the app that does not ask for Airflow's login: the signature authenticates
the sender. Airflow's API server puts no authentication in front of plugin apps (its
``JWTRefreshMiddleware`` only refreshes a session cookie when one is sent), and the UI's CSRF
check guards the conflict form only.

What a sender gets back:

- 200 ``{"status": "accepted"}``: verified and recorded (on disk, the flow's trigger notified);
  200 ``{"status": "duplicate"}``: that ``webhook-id`` was accepted before, nothing else happens;
- 401: a header missing or malformed, a timestamp outside 5 minutes, or no valid signature;
- 404: no flow by that id has a webhook trigger (unknown flows look the same);
- 413: the body is larger than ``settings.webhook_max_bytes()`` (checked while it streams in);
- 503: the state database or the secret connection cannot be read: send again later.

Refusals are recorded in the flow's event log (``events.store.record_refused``) within a
per-flow budget (``events.webhook.RefusalBudget``). The body is never logged nor recorded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from syncgate import settings
from syncgate.events import store
from syncgate.events.webhook import (
    HEADERS,
    RefusalBudget,
    WebhookRefused,
    WebhookSecretsUnavailable,
    check_headers,
    load_secrets,
    verify,
    webhook_secret_conn_id,
)
from syncgate.ui.flows import current_flows

if TYPE_CHECKING:
    import psycopg

    from syncgate.spec.model import FlowSpec
    from syncgate.spec.sync_model import SyncSpec

log = logging.getLogger(__name__)

NOT_FOUND = "no webhook receiver for this flow"
RETRY_LATER = "the receiver cannot record the event now: send it again later"


def add_webhook_route(app: FastAPI) -> None:
    """Register the receiver on ``app`` (no auth dependency: the signature is the auth)."""
    budget = RefusalBudget(settings.webhook_refusals_per_minute())
    schema_ready: set[str] = set()  # state connections whose flow_events table exists (this process)

    @app.post("/webhooks/{flow_id}", name="webhook", include_in_schema=False)
    async def receive_webhook(request: Request, flow_id: str) -> JSONResponse:
        spec = (await run_in_threadpool(current_flows)).specs.get(flow_id)
        secret_conn_id = webhook_secret_conn_id(spec) if spec is not None else None
        if spec is None or secret_conn_id is None:
            return _reply(404, detail=NOT_FOUND)
        refuse = _Refuser(spec, flow_id, budget, schema_ready)
        headers = {name: request.headers.get(name, "") for name in HEADERS}
        try:
            check_headers(headers)  # before the body: a request without them costs no more
        except WebhookRefused as exc:
            return await refuse(401, exc.reason)
        limit = settings.webhook_max_bytes()
        body = await _read_body(request, limit)
        if body is None:
            return await refuse(413, f"body larger than {limit} bytes")
        try:
            verifiers = await run_in_threadpool(load_secrets, secret_conn_id)
        except WebhookSecretsUnavailable as exc:
            log.warning("Webhook for flow %s not verified: %s", flow_id, exc)
            return await refuse(503, str(exc), detail=RETRY_LATER)
        try:
            webhook_id = await run_in_threadpool(verify, body, headers, verifiers)
        except WebhookRefused as exc:
            return await refuse(401, exc.reason)
        del body  # verified: only its id goes further
        try:
            outcome = await run_in_threadpool(_record, spec, flow_id, webhook_id, schema_ready)
        except Exception as exc:  # unreachable, refused the write, unknown connection: all "later"
            log.warning("Webhook %s for flow %s not recorded: %s", webhook_id, flow_id, type(exc).__name__)
            return _reply(503, detail=RETRY_LATER)
        log.info("Webhook %s for flow %s: %s", webhook_id, flow_id, outcome)
        return _reply(200, status=outcome)


class _Refuser:
    """Answers a refused request and records why, within the flow's refusal budget."""

    def __init__(
        self, spec: FlowSpec | SyncSpec, flow_id: str, budget: RefusalBudget, schema_ready: set[str]
    ) -> None:
        self.spec, self.flow_id, self.budget, self.schema_ready = spec, flow_id, budget, schema_ready

    async def __call__(self, status_code: int, reason: str, *, detail: str | None = None) -> JSONResponse:
        skipped = self.budget.admit(self.flow_id)
        if skipped is not None:
            recorded = f"{reason} (+{skipped} more refusal(s) not recorded)" if skipped else reason
            log.warning("Webhook for flow %s refused (%d): %s", self.flow_id, status_code, recorded)
            await run_in_threadpool(_record_refused, self.spec, self.flow_id, recorded, self.schema_ready)
        return _reply(status_code, detail=detail or reason)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body; None as soon as it is known to exceed ``limit`` bytes (the rest is not read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked: no length was declared
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _record(spec: FlowSpec | SyncSpec, flow_id: str, webhook_id: str, schema_ready: set[str]) -> str:
    conn = _state(spec, schema_ready)
    try:
        return store.record_webhook(conn, flow_id, webhook_id)
    finally:
        conn.close()


def _record_refused(spec: FlowSpec | SyncSpec, flow_id: str, reason: str, schema_ready: set[str]) -> None:
    """Best effort: a state database that is down must not turn a 401 into a 500."""
    try:
        conn = _state(spec, schema_ready)
        try:
            store.record_refused(conn, flow_id, "webhook", reason)
        finally:
            conn.close()
    except Exception as exc:
        log.warning("Refused webhook for flow %s not recorded: %s", flow_id, type(exc).__name__)


def _state(spec: FlowSpec | SyncSpec, schema_ready: set[str]) -> psycopg.Connection[Any]:
    """A connection to the flow's state database, its schema created once per process."""
    from syncgate.db.connect import connect

    conn_id = str(spec.state_conn_id)
    conn = connect(conn_id)
    if conn_id not in schema_ready:  # a flow that never ran has no state schema yet
        from syncgate.state.schema import ensure_state_schema

        try:
            ensure_state_schema(conn)
        except BaseException:
            conn.close()
            raise
        schema_ready.add(conn_id)
    return conn


def _reply(status_code: int, **content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=status_code)
