from __future__ import annotations

import pyarrow as pa
import pytest

from syncgate.arrow_types import arrow_schema, arrow_type, pg_columns

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("pg", "arrow"),
    [
        ("bigint", pa.int64()),
        ("numeric(12,2)", pa.decimal128(12, 2)),
        ("numeric", pa.string()),  # unbounded: lossless as text
        ("numeric(50,2)", pa.string()),
        ("timestamp with time zone", pa.timestamp("us", tz="UTC")),
        ("jsonb", pa.string()),
        ("character(3)", pa.string()),
        ("boolean", pa.bool_()),
    ],
)
def test_lossless_mapping(pg: str, arrow: pa.DataType) -> None:
    assert arrow_type(pg) == arrow


def test_schema_remembers_postgres_types() -> None:
    columns = [("id", "bigint"), ("doc", "jsonb"), ("code", "character varying(10)")]
    assert pg_columns(arrow_schema(columns)) == columns
