"""Arrow arrays built from buffers are exactly what ``pyarrow.array`` builds."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from syncgate.arrow_values import from_list

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("values", "arrow"),
    [
        (["a", None, "ü", ""], pa.string()),
        ([1, None, -(2**63), 2**63 - 1], pa.int64()),
        ([1, None, -(2**31)], pa.int32()),
        ([7, -(2**15)], pa.int16()),
        ([1.5, None, -0.0, float("inf")], pa.float64()),
        ([1.5, None, 1e40], pa.float32()),  # beyond float32: inf, as pa.array gives
        ([True, None, False, True, True, False, True, False, True], pa.bool_()),
        ([None, None], pa.int64()),
        ([], pa.string()),
        ([1, 2.5], pa.float64()),  # mixed kinds: handed to pa.array
        (["2026-01-01"], pa.large_string()),  # another type: handed to pa.array
    ],
)
def test_an_array_from_a_list_equals_pyarrow_array(values: list[Any], arrow: pa.DataType) -> None:
    built = from_list(values, arrow)
    expected = pa.array(values, type=arrow)
    assert built.type == arrow and built.equals(expected)
    assert built.null_count == expected.null_count and built.to_pylist() == expected.to_pylist()


@pytest.mark.parametrize(("value", "arrow"), [(2**31, pa.int32()), (2**15, pa.int16()), (2**63, pa.int64())])
def test_an_integer_out_of_range_raises_overflow_error(value: int, arrow: pa.DataType) -> None:
    with pytest.raises(OverflowError):
        from_list([1, value], arrow)


def test_a_list_without_nulls_has_no_validity_bitmap() -> None:
    assert from_list([1, 2, 3], pa.int64()).buffers()[0] is None
