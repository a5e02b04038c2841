"""Customer writes: single (with an ``Idempotency-Key`` header) and batched (a key per operation)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .idempotency import Outcome
from .responses import error, json_response, state_of
from .state import CrmState

router = APIRouter()

MAX_BATCH = 500
BATCH_OPS = ("create", "update", "delete")


async def _body(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw else None


def _respond(outcome: Outcome, replayed: bool) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if outcome.status == 204:
        return Response(status_code=204, headers=headers)
    if outcome.status >= 400:
        body = outcome.body if isinstance(outcome.body, dict) else {"error": outcome.error}
        return json_response(body, outcome.status, headers)
    if outcome.status == 201:
        headers["Location"] = f"/v1/customers/{outcome.id}"
    return json_response(outcome.body, outcome.status, headers)


async def _single(request: Request, op: str, customer_id: int | None) -> Response:
    try:
        body = await _body(request) if op != "delete" else None
    except ValueError:
        return error(422, "body is not valid JSON", "body")
    key = request.headers.get("idempotency-key")
    outcome, replayed = state_of(request).write(op, customer_id, body, key)
    return _respond(outcome, replayed)


@router.post("/v1/customers", status_code=201)
async def create_customer(request: Request) -> Response:
    return await _single(request, "create", None)


@router.patch("/v1/customers/{customer_id}")
async def patch_customer(request: Request, customer_id: int) -> Response:
    return await _single(request, "update", customer_id)


@router.put("/v1/customers/{customer_id}")
async def put_customer(request: Request, customer_id: int) -> Response:
    return await _single(request, "replace", customer_id)


@router.delete("/v1/customers/{customer_id}", status_code=204)
async def delete_customer(request: Request, customer_id: int) -> Response:
    return await _single(request, "delete", customer_id)


@router.post("/v1/customers/batch")
async def batch(request: Request) -> Response:
    """Up to 500 operations, each applied (or rejected) on its own; results in request order."""
    try:
        body = await _body(request)
    except ValueError:
        return error(422, "body is not valid JSON", "body")
    operations = body.get("operations") if isinstance(body, dict) else None
    if not isinstance(operations, list):
        return error(422, "operations must be a list", "operations")
    if len(operations) > MAX_BATCH:
        return error(422, f"at most {MAX_BATCH} operations per batch", "operations")
    state = state_of(request)
    results = []
    for item in operations:
        outcome = _batch_one(state, item)
        results.append({"status": outcome.status, "id": outcome.id, "error": outcome.error})
    return json_response({"results": results})


def _batch_one(state: CrmState, item: Any) -> Outcome:
    if not isinstance(item, dict):
        return Outcome(422, None, error="operation must be an object")
    op, record_id, key = item.get("op"), item.get("id"), item.get("idempotency_key")
    if op not in BATCH_OPS:
        return Outcome(422, None, error="op must be create, update or delete")
    if record_id is not None and (not isinstance(record_id, int) or isinstance(record_id, bool)):
        return Outcome(422, None, error="id must be an integer")
    if key is not None and not isinstance(key, str):
        return Outcome(422, record_id, error="idempotency_key must be a string")
    record = item.get("record") if op != "delete" else None
    if op != "delete" and record is None:
        return Outcome(422, record_id, error="record is required")
    return state.write(op, record_id, record, key)[0]
