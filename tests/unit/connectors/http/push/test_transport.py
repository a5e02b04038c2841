"""Push requests and answers: routes, outcomes, refusal reasons and idempotency keys (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.push.idempotency import canonical, idempotency_key
from syncgate.connectors.http.push.progress import Change
from syncgate.connectors.http.push.transport import Transport
from syncgate.connectors.http.spec import HttpTarget

pytestmark = pytest.mark.unit


def target(**options: Any) -> HttpTarget:
    return HttpTarget.model_validate(
        {
            "type": "http",
            "conn_id": "crm_api",
            "state_conn_id": "state",
            "endpoint": "/v1/customers/",
            **options,
        }
    )


def change(op: str, body: Any = None, api_id: str | None = "7") -> Change:
    return Change("b1", 1, op, {"id": 7}, api_id, body, "sg1-key")


@pytest.mark.parametrize(
    ("options", "op", "expected"),
    [
        ({}, "create", ("POST", "/v1/customers")),
        ({"methods": {"create": "PUT"}}, "create", ("PUT", "/v1/customers/7")),
        ({}, "update", ("PATCH", "/v1/customers/7")),
        ({"methods": {"update": "PUT"}}, "update", ("PUT", "/v1/customers/7")),
        ({}, "delete", ("DELETE", "/v1/customers/7")),
    ],
)
def test_routes(options: dict[str, Any], op: str, expected: tuple[str, str]) -> None:
    assert Transport(target(**options))._route(change(op)) == expected


def test_ids_in_paths_are_quoted() -> None:
    assert Transport(target())._route(change("delete", api_id="a/b c")) == (
        "DELETE",
        "/v1/customers/a%2Fb%20c",
    )


def test_outcomes() -> None:
    transport = Transport(target())
    created = transport._outcome(change("create", {"id": 7}), 201, {"id": 7, "name": "x"})
    assert (created.status, created.api_id) == ("done", "7")
    gone = transport._outcome(change("delete"), 404, {"error": "customer not found"})
    assert (gone.status, gone.reason) == ("done", None)
    missing = transport._outcome(change("update", {"name": "x"}), 404, {"error": "customer not found"})
    assert (missing.status, missing.reason) == ("rejected", "404: customer not found")


def test_reasons_never_quote_the_record() -> None:
    body = {"id": 7, "email": "alice@example.com", "name": "Alice Smith"}
    answer = {"error": "email alice@example.com of Alice Smith is taken", "field": "email"}
    refused = Transport(target())._outcome(change("create", body), 409, answer)
    assert refused.reason == "409 email: email *** of *** is taken"
    long = Transport(target())._outcome(change("create", body), 422, {"detail": "x" * 1000})
    assert long.reason is not None and len(long.reason) == 300


def test_idempotency_keys_are_stable_and_distinct() -> None:
    key = idempotency_key("f", "b1", {"id": 7}, "update", {"name": "x", "tier": 2})
    assert key == idempotency_key("f", "b1", {"id": 7}, "update", {"tier": 2, "name": "x"})
    others = {
        idempotency_key("f", "b2", {"id": 7}, "update", {"name": "x", "tier": 2}),
        idempotency_key("f", "b1", {"id": 8}, "update", {"name": "x", "tier": 2}),
        idempotency_key("f", "b1", {"id": 7}, "create", {"name": "x", "tier": 2}),
        idempotency_key("f", "b1", {"id": 7}, "update", {"name": "y", "tier": 2}),
        idempotency_key("g", "b1", {"id": 7}, "update", {"name": "x", "tier": 2}),
    }
    assert key.startswith("sg1-") and key not in others and len(others) == 5


def test_canonical_json_orders_keys_like_jsonb() -> None:
    # jsonb sorts object keys by length, then bytewise.
    assert canonical({"bb": 1, "a": [True, None], "c": {"z": "ü", "yy": 1.5}}) == (
        '{"a": [true, null], "c": {"z": "ü", "yy": 1.5}, "bb": 1}'
    )
