"""Map PostgreSQL column types to Arrow types for the landed Parquet files.

Only types whose every PostgreSQL value Arrow can hold are typed (integers, floats with
NaN/Infinity, booleans). Everything else travels as its PostgreSQL text form: numerics (NaN),
dates and timestamps ('infinity', BC, years past 9999), json, intervals, arrays... The exact
PostgreSQL type rides along in the field metadata, so staging tables get the source's types
and PostgreSQL itself parses the text back on load: the round trip is lossless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

PG_TYPE_KEY = b"pg_type"


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
    }
    return simple.get(pg_type, pa.string())


def arrow_schema(columns: list[tuple[str, str]]) -> pa.Schema:
    """An Arrow schema whose fields remember their PostgreSQL type."""
    import pyarrow as pa

    return pa.schema([pa.field(n, arrow_type(t), metadata={PG_TYPE_KEY: t.encode()}) for n, t in columns])


def pg_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """(name, PostgreSQL type) pairs recorded in a schema built by ``arrow_schema``."""
    return [(f.name, (f.metadata or {}).get(PG_TYPE_KEY, b"text").decode()) for f in schema]
