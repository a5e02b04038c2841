"""One stable idempotency key per planned change: a re-sent change carries the same key."""

from __future__ import annotations

import hashlib

import pytest

from syncgate.connectors.http.push.idempotency import PREFIX, body_hash, canonical, idempotency_key, key_sql

pytestmark = pytest.mark.unit

BODY = {"name": "Ada", "tags": ["a", "b"], "address": {"zip": "0150", "city": "Oslo"}, "vip": None}


def test_canonical_json_is_postgresql_jsonb_text() -> None:
    # jsonb::text orders keys by length, then bytes, with ", " and ": " separators.
    assert canonical(BODY) == (
        '{"vip": null, "name": "Ada", "tags": ["a", "b"], "address": {"zip": "0150", "city": "Oslo"}}'
    )
    # "é" is two bytes long, like "ab", and sorts after it by its first byte (0xc3).
    assert canonical({"é": 1, "z": 2, "ab": 3}) == '{"z": 2, "ab": 3, "é": 1}'
    assert canonical([1.5, True, "ü"]) == '[1.5, true, "ü"]'


def test_the_key_does_not_depend_on_the_order_of_keys_in_the_body_or_record_key() -> None:
    reordered = dict(reversed(list(BODY.items())))
    assert idempotency_key("f", "b1", {"id": 7, "region": "eu"}, "update", BODY) == idempotency_key(
        "f", "b1", {"region": "eu", "id": 7}, "update", reordered
    )


def test_the_key_is_versioned_and_short() -> None:
    key = idempotency_key("f", "b1", {"id": 7}, "create", BODY)
    assert key.startswith(PREFIX) and len(key) == len(PREFIX) + 40


@pytest.mark.parametrize(
    "changed",
    [
        ("g", "b1", {"id": 7}, "update", BODY),
        ("f", "b2", {"id": 7}, "update", BODY),
        ("f", "b1", {"id": 8}, "update", BODY),
        ("f", "b1", {"id": 7}, "create", BODY),
        ("f", "b1", {"id": 7}, "update", {**BODY, "name": "Grace"}),
        ("f", "b1", {"id": 7}, "update", None),
    ],
)
def test_a_change_to_flow_batch_record_operation_or_body_gives_another_key(changed: tuple) -> None:
    assert idempotency_key(*changed) != idempotency_key("f", "b1", {"id": 7}, "update", BODY)


def test_a_bodiless_request_hashes_to_the_empty_string() -> None:
    assert body_hash(None) == ""
    assert body_hash({}) == hashlib.sha256(b"{}").hexdigest()


def test_the_planning_sql_builds_the_same_text_the_key_hashes() -> None:
    # The equality of both keys over real jsonb is checked against PostgreSQL in
    # tests/integration/test_http_target.py; here: the same parts, in the same order, quoted.
    text = key_sql("it's", "b1", "s.key", "'update'", "s.body").as_string()
    assert text.startswith(
        f"'{PREFIX}' || left(encode(sha256(convert_to(concat_ws('|', 'it''s', 'b1', (s.key)::text"
    )
    assert "'update', coalesce(encode(sha256(convert_to((s.body)::text, 'UTF8')), 'hex'), '')" in text
    assert text.endswith(", 40)")
