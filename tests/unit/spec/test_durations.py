from __future__ import annotations

from datetime import timedelta

import pytest

from syncgate.spec.durations import parse_duration

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
     ("1d", timedelta(days=1)), ("1h30m", timedelta(minutes=90)), (45, timedelta(seconds=45))],
)  # fmt: skip
def test_parses(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "2 hours", "-5m", "0s", "5x", True])
def test_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("inf"), float("nan"), "9" * 30 + "d", 10**20, -float("inf")])
def test_a_duration_too_large_to_represent_is_a_validation_error_not_a_crash(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)  # type: ignore[arg-type]
