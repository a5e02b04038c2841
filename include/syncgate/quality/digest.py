"""A cheap digest of staged tables: enough to prove promote reads what the quality gate read.

Hashing 2M rows is far too slow (row::text over the batch, twice). PostgreSQL already keeps
what the proof needs, if the tables cannot change while the gate reads them (``verdicts.sealed``
holds a SHARE lock then, which every writer conflicts with):

- the table's oid and file node: TRUNCATE, VACUUM FULL, CLUSTER, a rewriting ALTER TABLE and
  DROP + CREATE all give it a new file node (or a new oid);
- its columns (number, name, type, collation): ADD / DROP / RENAME COLUMN rewrite nothing;
- no other table inherits from it (promote reads ``FROM staging``, which includes children);
- its row count (from the gate's own row count check where it ran): DELETE;
- the transaction snapshot taken under the lock: every row version promote may see was written
  by a transaction that had committed by then, so a visible row whose ``xmin`` is at or after
  the snapshot's ``xmax``, or was still running then (``xip``), is an INSERT, UPDATE or COPY
  written since. ``age(xmin)`` compares the 32-bit ``xmin`` against the same reference as the
  snapshot's, so wraparound does not matter while the verdict is younger than 2^31
  transactions (``MAX_AGE`` refuses older ones).

The check is one sequential scan of each table (count plus an ``age(xmin)`` filter; ``age(xid)``
is parallel-restricted). On 2M staged rows (277 MB, PostgreSQL 15, 2 shared cores) it took
0.17-0.24 s, against 0.09-0.13 s for a serial ``count(*)``; the digest at verify takes ~5 ms
(the row count comes from the gate's own row count check).

Known limit: a subtransaction that was assigned its id before the seal ended (the savepoint of
a transaction still open then) and writes the staged table afterwards has an ``xmin`` below
``xmax`` that is not in ``xip`` (snapshots list top-level transactions only). Proving that too
would take a scan at verify whenever another transaction is open on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncgate.db.identifiers import TableRef

if TYPE_CHECKING:
    import psycopg

# A verdict older than this many transactions is refused: 32-bit xids compare safely up to 2^31.
MAX_AGE = 1_000_000_000

_CATALOG = """
    SELECT c.oid::bigint, pg_relation_filenode(c.oid)::bigint,
           (SELECT coalesce(json_agg(json_build_array(a.attnum, a.attname,
                                                     format_type(a.atttypid, a.atttypmod),
                                                     a.attcollation::bigint) ORDER BY a.attnum), '[]')
            FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid)
    FROM pg_class c WHERE c.oid = to_regclass(%s)
"""


@dataclass(frozen=True)
class TableState:
    """What a staged table is, as far as its content is concerned (not its rows)."""

    table: str
    oid: int
    filenode: int
    columns: list[Any]
    inherited_by: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "oid": self.oid, "filenode": self.filenode,
            "columns": self.columns, "inherited_by": self.inherited_by,
        }  # fmt: skip


def table_state(conn: psycopg.Connection[Any], table: TableRef) -> TableState | None:
    """The table's catalog state, or None when it does not exist."""
    from psycopg import sql

    row = conn.execute(_CATALOG, (sql.Identifier(table.schema, table.name).as_string(conn),)).fetchone()
    if row is None:
        return None
    return TableState(str(table), int(row[0]), int(row[1]), list(row[2]), int(row[3]))


def lock_tables(conn: psycopg.Connection[Any], tables: list[TableRef]) -> None:
    """SHARE lock: waits for the tables' writers to finish, keeps new ones out until commit."""
    from psycopg import sql

    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.SQL(", ").join(t.sql for t in tables)))


def take(conn: psycopg.Connection[Any], tables: list[TableRef], rows: dict[str, int]) -> dict[str, Any]:
    """Digest ``tables`` (already locked by ``conn``); ``rows`` maps a table to a row count
    already observed under this lock, and the others are counted now."""
    from psycopg import sql

    states = []
    for table in tables:
        state = table_state(conn, table)
        if state is None:
            raise ValueError(f"staged table {table} does not exist")
        count = rows.get(str(table))
        if count is None:
            found = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.sql)).fetchone()
            count = int(found[0]) if found else 0
        states.append({**state.as_dict(), "rows": count})
    snapshot = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
    assert snapshot is not None
    return {"snapshot": str(snapshot[0]), "tables": states}


def differences(conn: psycopg.Connection[Any], digest: dict[str, Any]) -> str | None:
    """How the digested tables differ now (catalog first, then one scan each), or None.

    Run it in the transaction that then reads the tables, after ``lock_tables``.
    """
    from psycopg import sql

    snapshot = digest["snapshot"]
    age = conn.execute(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        " - pg_snapshot_xmax(%s::pg_snapshot)::text::bigint",
        (snapshot,),
    ).fetchone()
    if age is None or int(age[0]) > MAX_AGE:
        return f"the verdict is more than {MAX_AGE:,} transactions old and can no longer be compared"
    for recorded in digest["tables"]:
        table = TableRef.parse(recorded["table"])
        state = table_state(conn, table)
        if state is None:
            return f"staged table {table} no longer exists"
        if (state.oid, state.filenode) != (recorded["oid"], recorded["filenode"]):
            return (
                f"staged table {table} was emptied, rewritten or replaced (TRUNCATE, VACUUM FULL, "
                "ALTER TABLE or DROP and CREATE)"
            )
        if state.columns != recorded["columns"]:
            return f"the columns of staged table {table} changed (ALTER TABLE)"
        if state.inherited_by != recorded["inherited_by"]:
            return f"another table now inherits from staged table {table}, adding its rows"
        # Transactions still running at the seal (xip): whatever they wrote since is new too.
        still_running = [str(int(x) & 0xFFFFFFFF) for x in snapshot.split(":")[2].split(",") if x]
        or_running = sql.SQL(" OR t.xmin = ANY (%s::xid[])" if still_running else "")
        found = conn.execute(
            sql.SQL(
                "SELECT count(*), count(*) FILTER (WHERE age(t.xmin) <= "
                "(SELECT age(xid(pg_snapshot_xmax(%s::pg_snapshot)))){running}) FROM {t} AS t"
            ).format(running=or_running, t=table.sql),
            (snapshot, still_running) if still_running else (snapshot,),
        ).fetchone()
        assert found is not None
        total, written = int(found[0]), int(found[1])
        if written:
            return (
                f"{written} row(s) of staged table {table} were written after verify (INSERT, UPDATE or COPY)"
            )
        if total == 0 and recorded["rows"]:
            # Staging tables are UNLOGGED: recovery after a crash of their server empties them.
            return (
                f"staged table {table} is empty where verify checked {recorded['rows']} rows (a DELETE, "
                "or a crash of its database server: its recovery empties staging tables)"
            )
        if total != recorded["rows"]:
            return f"staged table {table} holds {total} rows where verify checked {recorded['rows']} (DELETE)"
    return None
