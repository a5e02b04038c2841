"""The demo CRM's generator: deterministic, contract-shaped, messy on purpose."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from demo.crm.records import format_ts, generate_contacts, generate_customers, parse_ts

pytestmark = pytest.mark.unit

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_same_seed_same_records_other_seed_other_records() -> None:
    assert generate_customers(500, 3) == generate_customers(500, 3)
    assert generate_contacts(500, 50, 3) == generate_contacts(500, 50, 3)
    assert generate_customers(500, 3) != generate_customers(500, 4)


def test_customers_follow_the_contract_and_carry_messy_data() -> None:
    customers = generate_customers(2000, 42)
    assert [c["id"] for c in customers] == list(range(1, 2001))
    for c in customers:
        assert set(c) == {
            "id", "name", "email", "status", "tier", "lifetime_value", "address", "tags", "created_at", "updated_at",
        }  # fmt: skip
        assert c["status"] in {"active", "inactive", "lead"}
        assert c["email"] is None or "@" in c["email"]
        assert c["tier"] is None or 1 <= c["tier"] <= 4
        assert c["lifetime_value"] is None or re.fullmatch(r"\d+\.\d\d", c["lifetime_value"])
        assert len(c["address"]["country"]) == 2
        assert STAMP.match(c["created_at"]) and STAMP.match(c["updated_at"])
        assert c["updated_at"] >= c["created_at"]
    assert any(c["email"] is None for c in customers)
    assert any(c["tier"] is None for c in customers)
    assert any(c["lifetime_value"] is None for c in customers)
    assert any(c["address"]["city"] is None for c in customers)
    names = [c["name"] for c in customers]
    assert len(set(names)) < len(names)
    stamps = [c["updated_at"] for c in customers]
    assert len(set(stamps)) < len(stamps)
    assert stamps != sorted(stamps)  # ids do not follow updated_at: late arrivals


def test_contacts_point_at_existing_customers() -> None:
    contacts = generate_contacts(1000, 30, 1)
    assert {c["customer_id"] for c in contacts} <= set(range(1, 31))
    assert any(c["phone"] is None for c in contacts) and any(c["email"] is None for c in contacts)


@pytest.mark.parametrize("micros", [0, 1, 1_732_600_000_123_456, 1_767_225_599_999_999])
def test_format_ts_matches_datetime(micros: int) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert format_ts(micros) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00.000000Z"),
        ("2025-03-01T14:00:00.5+02:00", "2025-03-01T12:00:00.500000Z"),
        ("2025-03-01", "2025-03-01T00:00:00.000000Z"),
        ("2025-03-01T12:00:00.123456", "2025-03-01T12:00:00.123456Z"),
        ("2025-03-01T13:00:00 01:00", "2025-03-01T12:00:00.000000Z"),
        ("2025-03-01 12:00:00", "2025-03-01T12:00:00.000000Z"),
        ("2025-03-01 12:00", "2025-03-01T12:00:00.000000Z"),
        ("2025-03-01T13:00:00.25 01:00", "2025-03-01T12:00:00.250000Z"),
    ],
)
def test_parse_ts_normalises_to_utc(text: str, canonical: str) -> None:
    assert parse_ts(text) == canonical


def test_parse_ts_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_ts("last tuesday")
