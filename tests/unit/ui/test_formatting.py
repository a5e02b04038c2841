"""Human forms of durations, counts and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncgate.ui.formatting import count, duration, timestamp

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "–"),
        (0, "0s"),
        (4.5, "4.5s"),
        (12.4, "12s"),
        (95, "1m 35s"),
        (3599.6, "1h 00m"),
        (7200, "2h 00m"),
        (47 * 3600 + 59 * 60, "47h 59m"),
        (200000, "2d 07h"),
        (-95, "-1m 35s"),
    ],
)
def test_a_duration_reads_in_its_two_largest_units(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


def test_a_count_has_thousands_separators_and_none_is_a_dash() -> None:
    assert count(1234567) == "1,234,567" and count(0) == "0" and count(None) == "–"


def test_a_timestamp_reads_to_the_second_in_utc() -> None:
    assert timestamp(datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)) == "2026-03-04 05:06:07 UTC"
    assert timestamp(None) == "–"
