"""Freshness in a flow run: a stale batch is reported (GX warning) but promoted; promote records
the target's high-water mark and lag in the audit row and ``syncgate.freshness``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import audit, execute, make_spec, rows, seed_orders, sync

pytestmark = pytest.mark.integration


def test_stale_batch_is_promoted_with_a_warning_and_its_lag_recorded(databases: dict[str, str]) -> None:
    spec = make_spec(freshness={"column": "updated_at", "max_age": "2h", "warn_age": "1h"})
    seed_orders(databases["src"], 50, stamp="2026-01-01 00:00:00+00")  # newest: 00:05

    first = sync(spec)
    assert first["counts"]["rows_inserted"] == 50 and first["quality"]["success"] is True
    row = audit(databases["dst"], first["run"].run_id)
    assert row["status"] == "success" and row["quality_verdict"] == "passed"
    assert row["freshness_status"] == "breach"
    assert datetime.fromisoformat(row["high_water_mark"]) == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    expected_lag = (datetime.now(UTC) - datetime(2026, 1, 1, 0, 5, tzinfo=UTC)).total_seconds()
    assert abs(row["lag_seconds"] - expected_lag) < 120
    [warning] = row["failed_expectations"]
    assert warning["type"] == "expect_column_max_to_be_between" and warning["severity"] == "warning"
    assert warning["meta"]["syncgate"] == "freshness"
    assert any("[warning, not blocking]" in f for f in first["quality"]["failures"])
    recorded = rows(
        databases["dst"],
        "SELECT checked_by, run_id, status, max_age_seconds, warn_age_seconds FROM syncgate.freshness",
    )
    assert recorded == [("promote", first["run"].run_id, "breach", 7200.0, 3600.0)]

    # Fresh rows arrive: the incremental batch moves the high-water mark; the lag is small.
    recent = datetime.now(UTC) - timedelta(minutes=30)
    execute(databases["src"], f"UPDATE public.orders SET updated_at = '{recent.isoformat()}' WHERE id <= 3")
    second = sync(spec)
    row = audit(databases["dst"], second["run"].run_id)
    assert row["freshness_status"] == "ok" and row["failed_expectations"] == []
    assert datetime.fromisoformat(row["high_water_mark"]) == recent
    assert 1700 < row["lag_seconds"] < 1900 + 120

    # Nothing new: the empty batch keeps the previous mark (the target is not rescanned).
    third = sync(spec)
    row = audit(databases["dst"], third["run"].run_id)
    assert datetime.fromisoformat(row["high_water_mark"]) == recent and row["freshness_status"] == "ok"
    statuses = rows(databases["dst"], "SELECT status FROM syncgate.freshness ORDER BY checked_at")
    assert [s for (s,) in statuses] == ["breach", "ok", "ok"]


def test_a_flow_without_sla_records_its_cursor_lag_only(databases: dict[str, str]) -> None:
    spec = make_spec()
    seed_orders(databases["src"], 10)
    done = sync(spec)
    row = audit(databases["dst"], done["run"].run_id)
    assert row["high_water_mark"] is not None and row["lag_seconds"] > 0
    assert row["freshness_status"] is None
    assert rows(databases["dst"], "SELECT count(*) FROM syncgate.freshness") == [(0,)]


def test_a_critical_failure_still_blocks_next_to_a_freshness_warning(databases: dict[str, str]) -> None:
    from syncgate.errors import DataQualityError

    spec = make_spec(freshness={"column": "updated_at", "max_age": "2h"}, transform={})
    seed_orders(databases["src"], 10)  # status stays P/S/X: not in the value set
    with pytest.raises(DataQualityError) as caught:
        sync(spec)
    assert "expect_column_values_to_be_in_set" in str(caught.value)
    assert "[warning, not blocking] expect_column_max_to_be_between" in str(caught.value)
    assert rows(databases["dst"], "SELECT status FROM syncgate.sync_runs") == [("rejected",)]
    assert rows(databases["dst"], "SELECT count(*) FROM syncgate.freshness") == [(0,)]
