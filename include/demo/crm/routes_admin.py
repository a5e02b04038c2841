"""``/_admin``: fault injection, stats, reseeding, simulated activity and schema drift."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .faults import APPLY_KINDS, KINDS, Fault
from .records import parse_ts
from .responses import error, json_response, state_of
from .state import RESOURCES

router = APIRouter(prefix="/_admin")


async def _object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _count(value: Any, name: str, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
    return value


@router.post("/faults")
async def add_fault(request: Request) -> Response:
    try:
        body = await _object(request)
        kind = str(body.get("kind"))
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        count = _count(body.get("count", 1), "count", minimum=1)
        path = body.get("path") or ""
        retry_after = body.get("retry_after")
        delay = body.get("delay", 1.0)
        after = _count(body.get("after", 0), "after", minimum=0)
        if not isinstance(path, str) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError("path must be a string and delay a number >= 0")
        apply = body.get("apply", False)
        if not isinstance(apply, bool) or (apply and kind not in APPLY_KINDS):
            raise ValueError(f"apply is a boolean, allowed for kinds {', '.join(APPLY_KINDS)}")
    except ValueError as exc:
        return error(422, str(exc))
    fault = Fault(
        kind, count, path, None if retry_after is None else str(retry_after), float(delay), apply, after
    )
    state_of(request).add_fault(fault)
    return json_response({"queued": fault.public()}, 201)


@router.delete("/faults")
def clear_faults(request: Request) -> Response:
    state_of(request).clear_faults()
    return json_response({"cleared": True})


@router.get("/stats")
def stats(request: Request) -> Response:
    return json_response(state_of(request).stats())


@router.post("/reset")
def reset(request: Request) -> Response:
    state = state_of(request)
    state.reset()
    return json_response(state.sizes)


@router.post("/seed")
async def seed(request: Request) -> Response:
    state = state_of(request)
    try:
        body = await _object(request)
        sizes = {name: body.get(name, state.sizes[name]) for name in ("customers", "contacts", "seed")}
        for name, value in sizes.items():
            _count(value, name, minimum=0)
    except ValueError as exc:
        return error(422, str(exc))
    state.load(sizes["customers"], sizes["contacts"], sizes["seed"])
    return json_response(state.sizes)


@router.post("/touch")
async def touch(request: Request) -> Response:
    """Simulated activity: bump ``updated_at`` (to now, or ``at`` for a late arrival) and change a field."""
    try:
        body = await _object(request)
        resource, ids, count, at = body.get("resource"), body.get("ids"), body.get("count"), body.get("at")
        if resource not in RESOURCES:
            raise ValueError(f"resource must be one of {', '.join(RESOURCES)}")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
            raise ValueError("ids must be a list of integers")
        if ids is None:
            count = _count(count, "count", minimum=0)
        stamp = parse_ts(at) if isinstance(at, str) else None
    except ValueError as exc:
        return error(422, str(exc))
    touched = state_of(request).touch(resource, ids, count, stamp)
    return json_response({"touched": touched})


@router.post("/schema")
async def change_schema(request: Request) -> Response:
    try:
        body = await _object(request)
        resource = body.get("resource", "customers")
        if resource not in RESOURCES:
            raise ValueError(f"resource must be one of {', '.join(RESOURCES)}")
        drift = state_of(request).change_schema(resource, body)
    except ValueError as exc:
        return error(422, str(exc))
    return json_response({"resource": resource, "drift": drift})


@router.delete("/schema")
def restore_schema(request: Request) -> Response:
    state_of(request).restore_schema()
    return json_response({"restored": True})


@router.get("/records/{resource}")
def all_records(request: Request, resource: str) -> Response:
    if resource not in RESOURCES:
        return error(404, "unknown resource")
    return json_response(state_of(request).all_records(resource))


@router.get("/writes")
def writes(request: Request) -> Response:
    state = state_of(request)
    with state.lock:
        log = list(state.writes)
    return json_response(log)
