"""Extract through the ADBC PostgreSQL driver: binary COPY decoded into Arrow in C++.

psycopg hands ``COPY ... TO STDOUT`` over one Python object per row (a third of the extract
time at 2M rows); ADBC's driver reads the same stream and fills Arrow batches natively.

The landed batch is the same as the CSV path's, value for value: integers, floats and booleans
arrive in binary, every other column is cast to ``text`` on the server, which for the types
allowed here runs the type's output function, exactly as ``COPY`` does (lossless for
'infinity', BC dates, NaN); ``character`` (whose cast trims blanks) calls its output function.
Types whose ``::text`` cast differs from their output (``inet`` adds a netmask...) or that are
not known here keep the CSV path.

The driver's connection joins the extract's REPEATABLE READ snapshot (``pg_export_snapshot``),
so rows, watermark and key set still agree.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from syncgate import landing, settings
from syncgate.arrow_types import arrow_schema, arrow_type
from syncgate.db.catalog import Columns
from syncgate.errors import RetriableError
from syncgate.hashing import keyed_hash, landed_columns
from syncgate.runtime.gc_pause import gc_paused

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

log = logging.getLogger(__name__)

# Arrow-typed columns (see arrow_types): ADBC decodes their binary form.
_NATIVE = {"smallint", "integer", "bigint", "real", "double precision", "boolean"}
# ``character`` casts to text with its blanks trimmed: call its output function instead.
_BPCHAR = re.compile(r"character(\(\d+\))?")
# Types whose ``::text`` cast is their output function (pg_cast has no function cast to text).
_AS_TEXT = re.compile(
    r"(text|character varying(\(\d+\))?|numeric(\(\d+(,\s*-?\d+)?\))?|date"
    r"|(timestamp|time)(\(\d\))?( with(out)? time zone)?|interval.*|jsonb?|uuid|bytea"
    r"|smallint|integer|bigint|real|double precision|boolean)(\[\])*"
)


def eligible(columns: Columns) -> bool:
    """True when the driver is installed and every column's landed value can come from it unchanged."""
    from importlib.util import find_spec

    if find_spec("adbc_driver_postgresql") is None:
        return False
    return all(t in _NATIVE or _AS_TEXT.fullmatch(t) or _BPCHAR.fullmatch(t) for _, t in columns)


def fetch_to_parquet(
    conn: psycopg.Connection[Any],
    conn_id: str,
    statement: sql.Composable,
    params: dict[str, Any],
    columns: Columns,
    path: Any,
    hashed: dict[str, bytes] | None = None,
) -> tuple[int, int] | None:
    """Land the query's rows like ``copy_to_parquet``; None when the snapshot cannot be shared.

    ``conn`` is the extract's open REPEATABLE READ transaction on the source.
    """
    import psycopg
    from psycopg import sql

    snapshot = _export_snapshot(conn)
    if snapshot is None:
        return None
    query = psycopg.ClientCursor(conn).mogrify(_cast_query(statement, columns), params)
    landed = arrow_schema(landed_columns(columns, hashed or {}))
    rows = 0
    with _AdbcSession(conn_id) as session:
        session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        session.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)).as_string(conn))
        # The text forms must be the CSV path's: same settings as syncgate.db.connect.
        session.execute("SET LOCAL TIME ZONE 'UTC'")
        session.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        session.execute("SET LOCAL IntervalStyle = 'iso_8601'")
        with landing.ParquetSink(path, landed) as sink, gc_paused():
            for batch in session.query(query, settings.batch_bytes()):
                table = _conform(batch, columns, hashed or {}, landed)
                sink.write(table)
            size = sink.close()
        rows = sink.rows
        session.execute("ROLLBACK")
    return rows, size


def _export_snapshot(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT pg_catalog.pg_is_in_recovery()").fetchone()
    if row and row[0]:
        # A hot standby: keep the one-session CSV path rather than rely on snapshot export there.
        log.info("Source is a standby: extracting over COPY CSV")
        return None
    # Not in a savepoint: PostgreSQL exports no snapshot from a subtransaction.
    row = conn.execute("SELECT pg_catalog.pg_export_snapshot()").fetchone()
    return str(row[0]) if row else None


def _cast_query(statement: sql.Composable, columns: Columns) -> sql.Composed:
    from psycopg import sql

    def output(name: str, pg_type: str) -> sql.Composable:
        if pg_type in _NATIVE:
            return sql.Identifier(name)
        if _BPCHAR.fullmatch(pg_type):
            return sql.SQL("pg_catalog.bpcharout({0})::text AS {0}").format(sql.Identifier(name))
        return sql.SQL("{0}::text AS {0}").format(sql.Identifier(name))

    outputs = [output(name, pg_type) for name, pg_type in columns]
    return sql.SQL("SELECT {} FROM ({}) AS syncgate_rows").format(sql.SQL(", ").join(outputs), statement)


def _conform(batch: Any, columns: Columns, hashed: dict[str, bytes], landed: Any) -> Any:
    """The driver's batch as the CSV path lands it: same names, types and field metadata."""
    import pyarrow as pa

    arrays = []
    for i, (name, pg_type) in enumerate(columns):
        values = pa.chunked_array([batch.column(i)])  # keyed_hash takes a table's column
        if name in hashed:
            values = keyed_hash(values, hashed[name])
        elif values.type != arrow_type(pg_type):
            values = values.cast(arrow_type(pg_type))
        arrays.append(values)
    return pa.Table.from_arrays(arrays, schema=landed)


class _AdbcSession:
    """One ADBC PostgreSQL connection through the driver manager's low-level API.

    Its DB-API layer (``adbc_driver_manager.dbapi``) imports ``pyarrow.dataset`` and with it
    pandas: ~0.25 s of every extract task, for a cursor this module does not need.
    """

    def __init__(self, conn_id: str) -> None:
        import adbc_driver_manager
        import adbc_driver_postgresql

        from syncgate.db.connect import conninfo
        from syncgate.redact import redact

        try:
            self._database = adbc_driver_postgresql.connect(conninfo(conn_id))
            self._connection = adbc_driver_manager.AdbcConnection(self._database)
        except adbc_driver_manager.Error as exc:
            self.close()
            # libpq's reason (a refused certificate, a full server...) is what the operator needs;
            # it may quote the conninfo, whose password conninfo() registered for redaction.
            reason = redact(str(exc).strip())
            raise RetriableError(f"cannot connect to {conn_id!r} through ADBC: {reason}") from None
        self._statements: list[Any] = []
        self._readers: list[Any] = []

    def execute(self, statement: str) -> None:
        self._statement(statement).execute_update()

    def query(self, statement: str, batch_bytes: int) -> Any:
        """The result as a ``pyarrow.RecordBatchReader`` of about ``batch_bytes`` per batch."""
        import pyarrow as pa

        prepared = self._statement(statement)
        prepared.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
        stream, _ = prepared.execute_query()
        reader = pa.RecordBatchReader._import_from_c(stream.address)
        self._readers.append(reader)
        return reader

    def _statement(self, statement: str) -> Any:
        import adbc_driver_manager

        prepared = adbc_driver_manager.AdbcStatement(self._connection)
        self._statements.append(prepared)
        prepared.set_sql_query(statement)
        return prepared

    def close(self) -> None:
        """Release readers, statements, connection and database, in that order."""
        handles = [
            *getattr(self, "_readers", ()),
            *getattr(self, "_statements", ()),
            getattr(self, "_connection", None),
            getattr(self, "_database", None),
        ]
        for handle in handles:
            if handle is not None:
                handle.close()

    def __enter__(self) -> _AdbcSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
