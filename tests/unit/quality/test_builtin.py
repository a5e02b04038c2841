from __future__ import annotations

import pytest

from syncgate.quality.builtin import builtin_expectations, describe

pytestmark = pytest.mark.unit


def test_single_key() -> None:
    types = [(e["type"], e["kwargs"]) for e in builtin_expectations(["id"], 10)]
    assert types == [
        ("expect_column_values_to_not_be_null", {"column": "id"}),
        (
            "expect_column_proportion_of_unique_values_to_be_between",
            {"column": "id", "min_value": 1, "max_value": 1},
        ),
        ("expect_table_row_count_to_equal", {"value": 10}),
    ]


def test_an_empty_batch_has_no_key_to_be_unique() -> None:
    types = [e["type"] for e in builtin_expectations(["id"], 0)]
    assert types == ["expect_column_values_to_not_be_null", "expect_table_row_count_to_equal"]


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


@pytest.mark.parametrize(
    ("observed", "shown"),
    [
        (0.9999995, "0.9999995"),
        (99.9995, "99.9995"),
        (1.0, "1.00"),
        (0.5, "0.50"),
        (1.23456, "1.23"),
        (7, "7"),
    ],
)
def test_describe_never_rounds_a_failure_into_a_pass(observed: float, shown: str) -> None:
    line = describe({"type": "t", "kwargs": {"column": "id"}, "observed_value": observed})
    assert line == f"t on id (observed_value={shown})"
