"""Map PostgreSQL column types to Arrow types for the landed Parquet files.

Types Arrow cannot hold losslessly (unbounded numeric, json, intervals, arrays ...) travel
as their PostgreSQL text form; the exact PostgreSQL type rides along in the field metadata
so staging tables are created with the source's types.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

PG_TYPE_KEY = b"pg_type"
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


def arrow_type(pg_type: str) -> pa.DataType:
    """The Arrow type that holds values of ``pg_type`` without loss."""
    import pyarrow as pa

    simple = {
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "real": pa.float32(),
        "double precision": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp without time zone": pa.timestamp("us"),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    }
    if pg_type in simple:
        return simple[pg_type]
    match = _NUMERIC.match(pg_type.replace(" ", ""))
    if match and int(match.group(1)) <= 38:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    return pa.string()


def arrow_schema(columns: list[tuple[str, str]]) -> pa.Schema:
    """An Arrow schema whose fields remember their PostgreSQL type."""
    import pyarrow as pa

    return pa.schema([pa.field(n, arrow_type(t), metadata={PG_TYPE_KEY: t.encode()}) for n, t in columns])


def pg_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """(name, PostgreSQL type) pairs recorded in a schema built by ``arrow_schema``."""
    return [(f.name, (f.metadata or {}).get(PG_TYPE_KEY, b"text").decode()) for f in schema]
