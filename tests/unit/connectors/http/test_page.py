from __future__ import annotations

from typing import Any

import pytest

from syncgate.connectors.http.drift import SchemaTracker
from syncgate.connectors.http.page import PageRules, shape_page

pytestmark = pytest.mark.unit


def rules(**kwargs: Any) -> PageRules:
    base: dict[str, Any] = {
        "primary_key": ["id"], "cursor": "updated_at", "declared_paths": {"city": "address.city"}, "top_level": True,
    }  # fmt: skip
    return PageRules(**{**base, **kwargs})


def records() -> list[dict[str, Any]]:
    return [
        {
            "id": 1,
            "email": "a@x",
            "tier": 1,
            "address": {"city": "Oslo"},
            "updated_at": "2026-01-01T00:00:00Z",
        },
        {"id": 2, "email": "b@x", "tier": 2, "address": {"city": None}, "updated_at": "2026-01-02T00:00:00Z"},
        {"id": 3, "email": "c@x", "tier": "gold", "address": {}, "updated_at": "2026-01-03T00:00:00Z"},
        {"id": None, "email": "d@x", "tier": 4, "address": {}, "updated_at": "2026-01-03T00:00:00Z"},
        {"id": 5, "email": "e@x", "tier": 5, "address": {}, "updated_at": "2026-01-03T00:00:00Z"},
    ]


def test_a_page_becomes_a_typed_table_with_rejects_and_cursor_progress() -> None:
    tracker = SchemaTracker("f", "evolve", None, {"email": "text"}, None)
    progress: dict[str, Any] = {}
    table, rejects = shape_page(
        records(), rules(hashed={"email": b"k"}, boundary_keys=True), tracker, progress
    )
    assert table is not None and table.column("id").to_pylist() == [1, 2, 5]
    assert table.column("city").to_pylist() == ["Oslo", None, None]
    assert table.schema.field("tier").type == "int64"
    assert all(len(v) == 64 for v in table.column("email").to_pylist())  # hashed before landing
    assert [r["reason"] for r in rejects] == [
        "field 'tier': expected bigint, got a JSON string",
        "primary key field 'id' is missing or null",
    ]
    assert rejects[0]["record"]["email"] == "***" and rejects[0]["record_key"] == {"id": 3}
    assert progress["rows"] == 3 and progress["rejected"] == 2
    assert progress["cursor_max"] == "2026-01-03T00:00:00Z" and progress["boundary_keys"] == ["5"]


def test_the_window_filters_records_the_api_did_not() -> None:
    tracker = SchemaTracker("f", "evolve", None, {}, None)
    progress: dict[str, Any] = {}
    table, _ = shape_page(
        records()[:3],
        rules(lower="2026-01-02T00:00:00+00:00", upper="2026-01-03T00:00:00Z"),
        tracker,
        progress,
    )
    assert table is not None and table.column("id").to_pylist() == [2]
    assert progress["filtered"] == 2


def test_append_skips_the_boundary_rows_already_promoted() -> None:
    tracker = SchemaTracker("f", "evolve", None, {}, None)
    progress: dict[str, Any] = {}
    page = [r for r in records() if r["id"] in (1, 2)]
    table, _ = shape_page(page, rules(lower="2026-01-01T00:00:00Z", skip_keys={"1"}), tracker, progress)
    assert table is not None and table.column("id").to_pylist() == [2]
