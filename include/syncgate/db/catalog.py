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


_UPSERT_TARGET = """
    SELECT c.relhasrules
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal),
           EXISTS (
               SELECT 1 FROM pg_catalog.pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indimmediate
                 AND i.indpred IS NULL AND i.indexprs IS NULL
                 AND i.indnkeyatts = cardinality(%(key)s::text[])
                 AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
                      FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1],
                                  (i.indcollation::oid[])[0:i.indnkeyatts - 1],
                                  (i.indclass::oid[])[0:i.indnkeyatts - 1]) AS k(attnum, coll, opclass)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                      JOIN pg_catalog.pg_opclass o ON o.oid = k.opclass
                      WHERE k.coll = a.attcollation AND o.opcdefault)
                     = (SELECT array_agg(k ORDER BY k) FROM unnest(%(key)s::text[]) AS k)
           )
    FROM pg_catalog.pg_class c
    WHERE c.oid = %(table)s::regclass
"""


def upsert_blocker(
    conn: psycopg.Connection[Any], table: TableRef, key: list[str], staged: Columns, target: Columns
) -> str | None:
    """Why ``INSERT ... ON CONFLICT (key)`` from a batch typed ``staged`` into ``table`` (typed
    ``target``) could act differently from an UPDATE + INSERT, or None when it cannot.

    ON CONFLICT finds rows through a unique index on the key, with that index's equality; it
    checks the proposed insert row (NOT NULL, CHECK) before finding the conflict; and it fires
    INSERT triggers for rows that end up updated. So it needs: exactly the batch's columns, the
    same key types, a valid, immediate, non-partial unique index on exactly the key columns with
    their own collations and default operator classes, and no rules or user triggers.
    """
    if sorted(name for name, _ in target) != sorted(name for name, _ in staged):
        return "its columns are not exactly the batch's"
    staged_types, target_types = dict(staged), dict(target)
    if any(staged_types[k] != target_types[k] for k in key):
        return "its key columns are typed differently from the batch's"
    row = conn.execute(_UPSERT_TARGET, {"table": table.sql.as_string(conn), "key": key}).fetchone()
    assert row is not None
    rules_or_triggers, unique_index = row
    if rules_or_triggers:
        return "it has rules or triggers"
    if not unique_index:
        return "it has no plain unique index on exactly the key columns"
    return None
