"""The demo CRM's store and state: ordered windows, cursors, idempotency, drift (in process)."""

from __future__ import annotations

import pytest

from demo.crm.pagination import InvalidCursorError, decode_cursor, encode_cursor
from demo.crm.state import CrmState
from demo.crm.store import Store

pytestmark = pytest.mark.unit


def _records() -> list[dict[str, object]]:
    stamps = ["2025-01-02", "2025-01-01", "2025-01-02", "2025-01-03", "2025-01-01"]
    return [
        {"id": i, "updated_at": s, "status": "lead" if i % 2 else "active"} for i, s in enumerate(stamps, 1)
    ]


def test_index_orders_by_updated_at_then_id_and_follows_writes() -> None:
    store = Store(_records(), partition="status")
    assert [r["id"] for r in store.ordered()] == [2, 5, 1, 3, 4]
    assert [k[1] for k in store.index("lead").keys] == [5, 1, 3]
    store.put({"id": 2, "updated_at": "2025-01-09", "status": "lead"})
    assert [r["id"] for r in store.ordered()] == [5, 1, 3, 4, 2]
    assert [k[1] for k in store.index("active").keys] == [4]
    assert [k[1] for k in store.index("lead").keys] == [5, 1, 3, 2]
    store.delete(3)
    assert [r["id"] for r in store.ordered()] == [5, 1, 4, 2]
    assert store.index("nobody").keys == []


def test_index_start_is_inclusive_for_since_and_exclusive_for_a_cursor() -> None:
    store = Store(_records())
    index = store.all
    assert index.start("2025-01-02") == 2
    assert index.start("2025-01-02", after=("2025-01-02", 1)) == 3
    assert index.start(after=("2025-01-01", 5)) == 2
    assert index.start("2025-02-01") == 5


def test_cursor_round_trip_and_garbage() -> None:
    key = ("2025-01-02T00:00:00.000000Z", 17)
    assert decode_cursor(encode_cursor(key)) == key
    for bad in ("", "abc", encode_cursor(key)[:-3], "eyJ1IjoxfQ"):
        with pytest.raises(InvalidCursorError):
            decode_cursor(bad)


def test_window_pages_and_total_respect_since_and_status() -> None:
    state = CrmState(customers=300, contacts=0, seed=5)
    ordered = state.all_records("customers")
    since = ordered[100]["updated_at"]
    expected = [r["id"] for r in ordered if r["updated_at"] >= since]
    seen, offset = [], 0
    while True:
        window = state.window("customers", 33, offset=offset, since=since)
        assert window.total == len(expected)
        seen += [r["id"] for r in window.records]
        offset += 33
        if not window.more:
            break
    assert seen == expected
    leads = state.window("customers", 1000, status="lead")
    assert [r["id"] for r in leads.records] == [r["id"] for r in ordered if r["status"] == "lead"]


def test_email_domain_filters_the_list_in_order() -> None:
    state = CrmState(customers=300, contacts=0, seed=3)
    ordered = state.all_records("customers")
    at_example = [r["id"] for r in ordered if (r["email"] or "").lower().endswith("@example.com")]
    assert 0 < len(at_example) < len(ordered)
    seen, offset = [], 0
    while True:
        window = state.window("customers", 17, offset=offset, email_domain="EXAMPLE.com")
        assert window.total == len(at_example)
        seen += [r["id"] for r in window.records]
        offset += 17
        if not window.more:
            break
    assert seen == at_example
    assert state.window("customers", 10, email_domain="partner.example").records == []


def test_idempotent_write_replays_and_conflicts() -> None:
    state = CrmState(customers=10, contacts=0, seed=1)
    body = {"name": "A", "email": "a@x"}
    first, replayed = state.write("create", None, body, "k")
    again, replayed_again = state.write("create", None, dict(reversed(body.items())), "k")
    assert (first.status, replayed, again.status, replayed_again) == (201, False, 201, True)
    assert again.body == first.body
    conflict, _ = state.write("create", None, {"name": "B"}, "k")
    assert conflict.status == 409
    assert state.writes_applied == 1 and len(state.stores["customers"]) == 11


def test_drift_shapes_output_but_not_the_stored_record() -> None:
    state = CrmState(customers=20, contacts=0, seed=1)
    state.change_schema("customers", {"drop_field": "email"})
    state.change_schema("customers", {"retype_field": {"name": "id", "to": "string"}})
    record = state.window("customers", 1).records[0]
    assert "email" not in record and isinstance(record["id"], str)
    assert "email" in state.stores["customers"].get(int(record["id"]))  # type: ignore[operator]
    with pytest.raises(ValueError):
        state.change_schema("customers", {"drop_field": "id"})
    state.restore_schema()
    assert "email" in state.window("customers", 1).records[0]


def test_new_ids_never_reuse_a_deleted_id() -> None:
    store = Store(_records())
    assert store.next_id() == 6
    store.delete(5)
    assert store.next_id() == 6
    store.put({"id": 40, "updated_at": "2025-01-05"})
    assert store.next_id() == 41


def test_encoded_pages_match_json_and_follow_replaced_records() -> None:
    import json

    store = Store(_records())
    rows = store.ordered()
    assert json.loads(store.encode(rows)) == rows
    assert store.encode(rows) == store.encode(rows)  # second call served from the cache
    store.put({"id": 2, "updated_at": "2025-01-01", "status": "changed"})
    assert json.loads(store.encode([store.records[2]])) == [
        {"id": 2, "updated_at": "2025-01-01", "status": "changed"}
    ]
    assert store.encode([]) == b"[]"
