from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncgate.observe.freshness import freshness_column, freshness_expectation, measure
from syncgate.observe.probe import is_temporal
from syncgate.spec.model import FlowSpec

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def spec(freshness: dict[str, str] | None = None) -> FlowSpec:
    return FlowSpec.model_validate(
        {
            "id": "f",
            "source": {
                "type": "postgres",
                "conn_id": "s",
                "table": "t",
                "primary_key": ["id"],
                "cursor": "u",
            },
            "target": {"type": "postgres", "conn_id": "d", "table": "t"},
            "transform": {"rename": {"u": "updated"}},
            **({"freshness": freshness} if freshness else {}),
        }
    )


def test_the_batch_check_warns_and_never_blocks() -> None:
    found = freshness_expectation(spec({"column": "loaded_at", "max_age": "2h"}), NOW)
    assert found == {
        "type": "expect_column_max_to_be_between",
        "kwargs": {"column": "loaded_at", "min_value": "2026-11-26T10:00:00+00:00"},
        "meta": {"syncgate": "freshness", "max_age_seconds": 7200.0},
        "severity": "warning",
    }
    assert freshness_expectation(spec(), NOW) is None


def test_the_column_is_the_slas_else_the_renamed_cursor() -> None:
    assert freshness_column(spec({"column": "loaded_at", "max_age": "2h"})) == "loaded_at"
    assert freshness_column(spec()) == "updated"


def test_temporal_types() -> None:
    for pg_type in ("timestamp with time zone", "timestamp(3) without time zone", "date", "timestamptz"):
        assert is_temporal(pg_type)
    for pg_type in ("bigint", "text", None, "interval"):
        assert not is_temporal(pg_type)


def test_measurement_audit_values() -> None:
    found = measure(
        spec({"column": "u", "max_age": "2h", "warn_age": "1h"}), NOW - timedelta(minutes=75), NOW
    )
    assert found.audit_values() == {
        "high_water_mark": "2026-11-26T10:45:00+00:00", "lag_seconds": 4500.0, "freshness_status": "warn",
    }  # fmt: skip
    assert measure(spec(), NOW, NOW).status is None
