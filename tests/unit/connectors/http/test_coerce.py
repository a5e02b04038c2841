"""JSON values as they land for a declared PostgreSQL type; inferred types; cursor order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncgate.connectors.http.coerce import CoerceError, base_type, coerce, infer_type, json_kind, sort_key

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "pg_type", "expected"),
    [
        (5, "bigint", 5),
        ("42", "integer", 42),
        (3.0, "smallint", 3),
        ("1234.50", "numeric(12,2)", "1234.50"),
        (12.5, "numeric", "12.5"),
        ("NaN", "double precision", "NaN"),
        (2, "real", 2.0),
        ("yes", "boolean", True),
        (0, "boolean", False),
        ({"a": [1]}, "jsonb", '{"a":[1]}'),
        (17, "text", "17"),
        ("2026-01-01T10:00:00.123456Z", "timestamptz", "2026-01-01T10:00:00.123456Z"),
        ("2026-01-01", "date", "2026-01-01"),
        ("0d6f6c4e-8a4b-4e8e-9a61-0c1b6c1d2e3f", "uuid", "0d6f6c4e-8a4b-4e8e-9a61-0c1b6c1d2e3f"),
        (None, "bigint", None),
        ("anything", "inet", "anything"),  # PostgreSQL validates on load
        (["a", 'b"c', None], "text[]", '{"a","b\\"c",NULL}'),
        (["1", 2], "int8[]", '{"1","2"}'),
    ],
)
def test_coerce(value: Any, pg_type: str, expected: Any) -> None:
    result = coerce(value, pg_type)
    assert result == expected or (isinstance(result, float) and str(result) == "nan" and expected == "NaN")


@pytest.mark.parametrize(
    ("value", "pg_type", "reason"),
    [
        ("gold", "bigint", "got a JSON string"),
        (2**40, "integer", "out of range"),
        (True, "bigint", "got a JSON boolean"),
        ("12345.678", "numeric(6,2)", "too large for numeric(6,2)"),
        ("maybe", "boolean", "got a JSON string"),
        (1700000000, "timestamptz", "got a JSON integer"),
        ("yesterday", "timestamp", "not an ISO-8601"),
        ("abcdef", "varchar(3)", "longer than 3"),
        ("not-a-uuid", "uuid", "got a JSON string"),
        ([1], "double precision", "got a JSON array"),
    ],
)
def test_uncoercible_values_name_the_kind_never_the_value(value: Any, pg_type: str, reason: str) -> None:
    with pytest.raises(CoerceError) as caught:
        coerce(value, pg_type)
    assert reason in str(caught.value)
    assert json.dumps(value) not in str(caught.value) and str(value) not in str(caught.value)


def test_kinds_and_inferred_types() -> None:
    kinds = [json_kind(v) for v in (None, True, 1, 1.5, "s", {}, [])]
    assert kinds == ["null", "boolean", "integer", "number", "string", "object", "array"]
    assert [infer_type(k) for k in kinds] == [
        "text", "boolean", "bigint", "double precision", "text", "jsonb", "jsonb",
    ]  # fmt: skip
    assert base_type("timestamptz") == ("timestamp with time zone", ())
    assert base_type("numeric(12, 2)") == ("numeric", (12, 2))
    assert base_type("int8[]") == ("bigint[]", ())


def test_cursor_values_sort_as_instants_numbers_or_text() -> None:
    assert sort_key("2026-01-01T10:00:00Z") == sort_key("2026-01-01T11:00:00+01:00")
    assert sort_key("2026-01-01T10:00:00.000001Z") > sort_key("2026-01-01T10:00:00Z")
    assert sort_key(10) > sort_key("9")
    # An integer watermark stored as text orders like the integers, even when it looks like a date.
    assert sort_key("20250315") == sort_key(20250315) < sort_key(20250316)
    assert sort_key(2**60 + 1) > sort_key(str(2**60))  # exact, no float rounding
    assert sort_key("b") > sort_key("a")
