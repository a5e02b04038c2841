"""HTTP source end to end: the demo CRM on loopback -> real PostgreSQL, in-process stages."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import audit, new_run, rows, sync
from http_helpers import FLOW, connect_crm, http_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def api(crm: Any, databases: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    connect_crm(monkeypatch, crm)
    return crm


def target_ids(dst: str, table: str = "analytics.customers") -> list[int]:
    return [r[0] for r in rows(dst, f"SELECT id FROM {table} ORDER BY id")]


@pytest.mark.parametrize("style", ["page", "offset", "token", "link"])
def test_every_pagination_style_lands_every_record(api: Any, databases: dict[str, str], style: str) -> None:
    spec = http_spec(style)
    resource = "contacts" if style == "offset" else "customers"
    result = sync(spec)
    source = api.admin.records(resource)
    source = source.get("records", source) if isinstance(source, dict) else source
    assert target_ids(databases["dst"], f"analytics.{resource}") == sorted(r["id"] for r in source)
    row = audit(databases["dst"], result["run"].run_id, FLOW)
    assert row["status"] == "success" and row["rows_extracted"] == len(source)
    assert 0 < row["bytes_wire"] < row["bytes_decoded"]  # gzip on the wire
    assert row["rows_rejected"] == 0 and row["schema_changes"] == []
