"""Side rows <-> common records, and the JSON-lines files between the sync stages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from syncgate.reconcile.records import SideMapping, read_lines, write_lines
from syncgate.spec.sync_model import SyncSpec

pytestmark = pytest.mark.unit

SPEC = {
    "id": "people",
    "mode": "two_way",
    "sides": {
        "erp": {"type": "postgres", "conn_id": "erp_db", "table": "public.people", "primary_key": ["id"],
                "cursor": "updated_at", "deletes": "soft", "soft_delete_column": "deleted_at"},
        "crm": {"type": "postgres", "conn_id": "crm_db", "table": "public.contacts", "primary_key": ["contact_id"],
                "cursor": "modified_at"},
    },
    "match": ["email"],
    "fields": {"email": {}, "name": {"crm": "full_name"}, "tier": {}, "limit": {"crm": None}},
    "map_values": {"crm": {"tier": {"gold": "1"}}},
}  # fmt: skip


def mapping(side: str) -> SideMapping:
    spec = SyncSpec.model_validate(SPEC)
    columns = {"erp": ["id", "email", "name", "tier", "limit", "updated_at", "deleted_at"],
               "crm": ["contact_id", "email", "full_name", "tier", "modified_at"]}[side]  # fmt: skip
    return SideMapping(spec, side, spec.field_columns(side, columns))


def test_a_side_row_becomes_the_common_record_and_back() -> None:
    crm = mapping("crm")
    row = {
        "contact_id": 7,
        "email": "a@x",
        "full_name": "Ada",
        "tier": "1",
        "modified_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    common = crm.to_common(row)
    assert common == {"email": "a@x", "name": "Ada", "tier": "gold"}
    assert crm.to_side(common) == {"email": "a@x", "full_name": "Ada", "tier": "1"}
    assert crm.record_key(common) == '["a@x"]'
    assert crm.side_key(row) == {"contact_id": 7}
    assert crm.change_time(row) == "2026-01-01T00:00:00.000000Z"
    assert crm.fields == frozenset({"email", "name", "tier"})  # `limit` is not on the CRM


def test_a_side_whose_key_is_not_common_mints_its_own() -> None:
    assert mapping("crm").mints_keys
    assert mapping("crm").key_from_common({"email": "a@x"}) is None
    erp = mapping("erp")
    assert erp.mints_keys  # `id` is not a common field either
    assert (
        erp.to_common({"id": 1, "email": "b@x", "name": "B", "tier": "gold", "limit": Decimal("10.00")})[
            "limit"
        ]
        == 10
    )


def test_soft_deleted_rows_are_tombstones() -> None:
    erp = mapping("erp")
    assert erp.is_deleted({"deleted_at": datetime(2026, 1, 1, tzinfo=UTC)})
    assert not erp.is_deleted({"deleted_at": None})
    assert not mapping("crm").is_deleted(
        {"deleted_at": datetime(2026, 1, 1, tzinfo=UTC)}
    )  # crm has no soft deletes


def test_plan_files_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCGATE_LANDING_URL", (tmp_path / "landing").as_uri())
    items = [{"key": '["a"]', "values": {"n": 1}}, {"key": '["b"]', "values": None}]
    url, count = write_lines("people__erp", "b1", "plan", items)
    assert count == 2
    assert list(read_lines(url)) == items
