from __future__ import annotations

import pyarrow as pa
import pytest

from syncgate.arrow_types import arrow_schema, arrow_type, pg_columns

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("pg", "arrow"),
    [
        ("bigint", pa.int64()),
        ("double precision", pa.float64()),  # NaN and Infinity included
        ("numeric(12,2)", pa.string()),  # NaN has no decimal128 form
        ("numeric", pa.string()),
        ("timestamp with time zone", pa.string()),  # 'infinity', BC, year 10000
        ("date", pa.string()),
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
