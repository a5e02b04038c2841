"""Column names and exact PostgreSQL types of a source table or query."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg

Columns = list[tuple[str, str]]  # (name, PostgreSQL type as format_type() prints it)

_ATTRIBUTES = """
    SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
"""


def table_columns(conn: psycopg.Connection[Any], table: TableRef) -> Columns:
    """Columns of ``table`` in order; raises ``FatalError`` when it does not exist."""
    from psycopg import errors, sql

    qualified = sql.Identifier(table.schema, table.name).as_string(conn)
    try:
        with conn.transaction():
            rows = conn.execute(_ATTRIBUTES, (qualified,)).fetchall()
    except errors.UndefinedTable:
        raise FatalError(f"table {table} does not exist") from None
    return [(str(name), str(type_)) for name, type_ in rows]


def query_columns(conn: psycopg.Connection[Any], query: str) -> Columns:
    """Columns a SELECT returns: its result description, typed by the server's format_type().

    Works in read-only transactions and on hot standbys (no temporary objects).
    """
    import psycopg
    from psycopg import sql

    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM ({}) AS syncgate_probe LIMIT 0").format(sql.SQL(query)))
            result = cur.pgresult
            assert result is not None and cur.description is not None
            names = [c.name for c in cur.description]
            oids = [result.ftype(i) for i in range(result.nfields)]
            mods = [result.fmod(i) for i in range(result.nfields)]
    except psycopg.errors.ProgrammingError as exc:
        # Syntax errors, unknown tables / columns: the spec's query is wrong.
        raise FatalError(f"source query is not valid: {exc}") from None
    types = conn.execute(
        "SELECT pg_catalog.format_type(t, NULLIF(m, -1)) FROM unnest(%s::oid[], %s::int[]) "
        "WITH ORDINALITY AS u(t, m, i) ORDER BY i",
        (oids, mods),
    ).fetchall()
    return [(name, str(type_)) for name, (type_,) in zip(names, types, strict=True)]


def relation_exists(conn: psycopg.Connection[Any], table: TableRef) -> bool:
    qualified = table.sql.as_string(conn)  # quoted by psycopg, as everywhere else
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,)).fetchone()
    return bool(row and row[0])


_UNIQUE_ON = """
    SELECT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
        WHERE i.indrelid = %(table)s::regclass AND NOT c.relhasrules
          AND i.indisunique AND i.indisvalid AND i.indimmediate
          AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indnkeyatts = cardinality(%(columns)s::text[])
          AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
               FROM pg_catalog.pg_attribute a
               WHERE a.attrelid = i.indrelid
                 AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
              = (SELECT array_agg(k ORDER BY k) FROM unnest(%(columns)s::text[]) AS k)
    )
"""


def has_unique_index_on(conn: psycopg.Connection[Any], table: TableRef, columns: list[str]) -> bool:
    """Whether ``INSERT ... ON CONFLICT (columns)`` can use ``table``: a valid, non-deferrable,
    non-partial unique index on exactly those columns, and no rewrite rules on the table."""
    qualified = table.sql.as_string(conn)
    row = conn.execute(_UNIQUE_ON, {"table": qualified, "columns": columns}).fetchone()
    return bool(row and row[0])
