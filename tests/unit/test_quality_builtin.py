from __future__ import annotations

import pytest

from syncgate.quality.builtin import builtin_expectations, describe

pytestmark = pytest.mark.unit


def test_single_key() -> None:
    types = [(e["type"], e["kwargs"]) for e in builtin_expectations(["id"], 10)]
    assert types == [
        ("expect_column_values_to_not_be_null", {"column": "id"}),
        ("expect_column_values_to_be_unique", {"column": "id"}),
        ("expect_table_row_count_to_equal", {"value": 10}),
    ]


def test_compound_key() -> None:
    types = [e["type"] for e in builtin_expectations(["a", "b"], 0)]
    assert types.count("expect_column_values_to_not_be_null") == 2
    assert "expect_compound_columns_to_be_unique" in types


def test_describe_names_check_target_and_numbers() -> None:
    line = describe(
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status"},
         "unexpected_count": 3, "unexpected_percent": 1.23456}
    )  # fmt: skip
    assert line == "expect_column_values_to_be_in_set on status (unexpected_count=3, unexpected_percent=1.23)"
