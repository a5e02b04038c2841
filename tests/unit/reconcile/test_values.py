"""Canonical values: one spelling per value, so a representation is never an edit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from syncgate.reconcile.values import canonical, record_digest, record_key

pytestmark = pytest.mark.unit


def test_numbers_compare_by_value_not_by_type_or_scale() -> None:
    assert canonical(Decimal("100.00")) == canonical(100) == canonical(100.0) == 100
    assert canonical(Decimal("12.50")) == canonical(12.5) == "12.5"
    assert canonical(Decimal("NaN")) == "NaN"
    assert canonical(True) is True  # not 1


def test_times_are_utc_whatever_zone_a_side_reports() -> None:
    berlin = timezone(timedelta(hours=1))
    assert canonical(datetime(2026, 1, 1, 13, 0, tzinfo=berlin)) == canonical(
        datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    )
    assert canonical(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) == "2026-01-01T12:00:00.000000Z"
    assert canonical(date(2026, 1, 2)) == "2026-01-02"


def test_containers_and_others() -> None:
    assert canonical({"b": Decimal("1.0"), "a": [1.5]}) == {"a": ["1.5"], "b": 1}
    assert canonical(b"\x00\x01") == "base64:AAE="
    assert canonical(UUID(int=1)) == "00000000-0000-0000-0000-000000000001"


def test_record_key_and_digest_are_stable() -> None:
    assert record_key({"faa": "JFK", "x": 1}, ["faa"]) == '["JFK"]'
    assert record_key({"a": Decimal("1.0"), "b": "x"}, ["a", "b"]) == '["1","x"]'
    assert record_digest({"a": 1, "b": 2}) == record_digest({"b": 2, "a": 1})
    assert record_digest(None) != record_digest({})


def test_text_a_source_landed_reads_as_the_value_its_type_names() -> None:
    from syncgate.reconcile.values import typed

    # A side's write returns typed values; its source lands PostgreSQL's text output.
    assert canonical(typed("750.00", "numeric(12,2)")) == canonical(Decimal("750")) == 750
    assert canonical(typed("2026-01-01 10:00:00+00", "timestamp with time zone")) == canonical(
        datetime(2026, 1, 1, 10, tzinfo=UTC)
    )
    assert typed("2026-01-02", "date") == date(2026, 1, 2)
    assert typed("t", "boolean") is True
    assert typed('{"a": 1}', "jsonb") == {"a": 1}
    assert typed("not a number", "numeric") == "not a number"
    assert typed("750.00", "text") == "750.00"
    assert typed("{1,2}", "numeric[]") == "{1,2}"
