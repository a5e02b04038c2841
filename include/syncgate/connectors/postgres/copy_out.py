"""Stream ``COPY ... TO STDOUT`` into a Parquet file through Arrow, in bounded chunks."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from syncgate import landing, settings
from syncgate.arrow_types import arrow_schema
from syncgate.db.catalog import Columns
from syncgate.errors import FatalError
from syncgate.hashing import keyed_hash, landed_columns
from syncgate.runtime.gc_pause import gc_paused

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa
    from psycopg import sql


def copy_to_parquet(
    conn: psycopg.Connection[Any],
    query: sql.Composed,
    params: dict[str, Any],
    columns: Columns,
    path: Any,
    hashed: dict[str, bytes] | None = None,
    *,
    conn_id: str | None = None,
) -> tuple[int, int]:
    """Land the query's rows as one Parquet file; returns (rows, bytes).

    With ``conn_id`` (the connection behind ``conn``) and every column type eligible, the
    ADBC driver decodes a binary COPY into Arrow (``adbc_out``); else COPY CSV, parsed here.
    """
    from psycopg import sql

    with _text_conversion_errors():
        if conn_id is not None and settings.extract_driver() == "adbc":
            from syncgate.connectors.postgres import adbc_out

            if adbc_out.eligible(columns):
                landed_rows = adbc_out.fetch_to_parquet(conn, conn_id, query, params, columns, path, hashed)
                if landed_rows is not None:
                    return landed_rows
        schema = arrow_schema(columns)
        landed = arrow_schema(landed_columns(columns, hashed or {}))
        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
        with landing.ParquetSink(path, landed) as sink, conn.cursor() as cur, gc_paused():
            with cur.copy(statement, params) as copy:
                for chunk in _chunks(copy, settings.batch_bytes()):
                    table = parse_csv(chunk, schema)
                    for name, key in (hashed or {}).items():
                        table = table.set_column(
                            table.schema.get_field_index(name), name, keyed_hash(table[name], key)
                        )
                    sink.write(table)
            size = sink.close()
        return sink.rows, size


# What PostgreSQL says when a source value cannot be sent as UTF-8 (SQLSTATE 22021 / 22P05).
_NOT_UTF8 = re.compile(r"invalid byte sequence for encoding|has no equivalent in encoding")


@contextmanager
def _text_conversion_errors() -> Iterator[None]:
    """Source text that cannot become UTF-8 fails the extract for good, without quoting it."""
    import psycopg

    try:
        yield
    except (psycopg.errors.CharacterNotInRepertoire, psycopg.errors.UntranslatableCharacter, OSError) as exc:
        if isinstance(exc, OSError) and not _NOT_UTF8.search(str(exc)):
            raise  # the ADBC driver's other errors (e.g. a dropped connection) stay retriable
        raise FatalError(
            "the source holds text that cannot be sent as UTF-8 (PostgreSQL: invalid byte sequence; "
            "a SQL_ASCII database?): fix the value at the source, or cast the column to bytea in a "
            "query (the value is not shown)"
        ) from None


def _chunks(copy: Any, limit: int) -> Iterator[bytes]:
    # COPY OUT yields one row per block, so every chunk ends on a row boundary.
    parts: list[Any] = []
    size = 0
    for block in copy:
        parts.append(block)
        size += len(block)
        if size >= limit:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)


def parse_csv(chunk: bytes, schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    try:
        return _read_csv(chunk, schema)
    except pa.ArrowInvalid as exc:
        # Arrow's message quotes the offending value, which may be PII: name the column only.
        index = re.search(r"column #(\d+)", str(exc))
        column = schema.names[int(index.group(1))] if index else "?"
        raise FatalError(
            f"a value of source column {column!r} cannot be represented as {schema.field(column).type if index else 'its Arrow type'}; "
            "cast it in `source.query` (e.g. to text)"
        ) from None


def _read_csv(chunk: bytes, schema: pa.Schema) -> pa.Table:
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(
        io.BytesIO(chunk),
        read_options=pcsv.ReadOptions(column_names=schema.names, block_size=1 << 24),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types=schema,
            # PostgreSQL CSV: unquoted empty = NULL, "" = empty string.
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return table.cast(schema)
