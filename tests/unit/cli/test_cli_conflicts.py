"""How ``conflicts list`` shows rows: a table a line per conflict, values cut, side order kept."""

from __future__ import annotations

import datetime as dt

import pytest

from syncgate.cli.conflicts import HEADERS, format_table, in_side_order, plain, side_values

pytestmark = pytest.mark.unit

WHEN = dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": 7, "flow_id": "customers", "detected_at": WHEN, "record_key": "[1]", "field": "tier",
        "rule": "manual", "status": "parked", "winner": None, "resolution": None,
        "side_values": {"erp": "silver", "crm": "bronze"},
    }  # fmt: skip
    return {**base, **overrides}


def test_the_table_has_a_header_and_one_aligned_line_per_conflict() -> None:
    lines = format_table(
        [row(), row(id=12, record_key="[100]", status="resolved", winner="crm")]
    ).splitlines()
    assert lines[0].split() == [*HEADERS[:-1], "side", "values"]
    assert lines[1].split()[:9] == [
        "7",
        "customers",
        "2026-12-01",
        "08:00:05",
        "UTC",
        "[1]",
        "tier",
        "manual",
        "parked",
    ]
    assert lines[1].endswith('erp="silver"  crm="bronze"') and "–" in lines[1]  # no winner yet
    assert lines[1].index("tier") == lines[2].index("tier")  # columns line up
    assert " crm " in lines[2]


def test_a_chosen_side_shows_on_a_parked_conflict() -> None:
    assert "parked -> crm" in format_table([row(resolution="crm")])
    assert "parked -> crm" not in format_table([row(resolution="crm", status="resolved")])


def test_long_values_are_cut_and_hashes_stay_hashes() -> None:
    shown = side_values({"a": "x" * 100, "b": "hmac:abc", "c": None, "d": {"k": 1}})
    assert (
        'a="' + "x" * 38 + "…" in shown
        and 'b="hmac:abc"' in shown
        and "c=null" in shown
        and 'd={"k": 1}' in shown
    )


def test_side_values_follow_the_specs_side_order() -> None:
    assert list(in_side_order({"crm": 1, "zz": 3, "erp": 2}, ["erp", "crm"])) == ["erp", "crm", "zz"]
    assert in_side_order(None, ["erp"]) is None


def test_json_rows_have_iso_timestamps() -> None:
    assert plain(row())["detected_at"] == "2026-12-01T10:00:05+02:00"
