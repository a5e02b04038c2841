"""A PostgreSQL table as a side of a sync flow: single records written by key, in one transaction.

Each write is guarded by the side's change clock: a row whose cursor is past what this run
read changed after the read, so it is left alone and the next run merges that change instead
of overwriting it (compare-and-set). Writes stamp the cursor (when it is a time) so that other
readers of the table, such as one-way flows from it, see syncgate's changes too; the echo of
that stamp is no edit to syncgate (``syncgate.reconcile``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from syncgate.connectors.base import RecordResult, RecordWrite
from syncgate.db.catalog import table_columns
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.db.sql import compose
from syncgate.errors import FatalError

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from syncgate.spec.model import FlowSpec

_TEMPORAL = ("timestamp", "date")


def write_records(flow: FlowSpec, writes: Sequence[RecordWrite], *, read_until: str | None) -> list[RecordResult]:
    """Apply ``writes`` to the side's table (see ``RecordWriter.write_records``)."""
    if not writes:
        return []
    table = TableRef.parse(str(flow.target.table))  # type: ignore[attr-defined]
    with connect(flow.target.conn_id) as conn:
        types = dict(table_columns(conn, table))
        plan = _Plan(flow, table, types, read_until)
        results: list[RecordResult] = []
        with conn.transaction():
            for write in writes:
                results.append(plan.apply(conn, write))
    return results


class _Plan:
    def __init__(self, flow: FlowSpec, table: TableRef, types: dict[str, str], read_until: str | None) -> None:
        source = flow.source
        self.table = table
        self.types = types
        self.key = list(source.primary_key)
        if not self.key:
            raise FatalError(f"side {flow.id}: a side table needs `primary_key` to be written by key")
        missing = [c for c in self.key if c not in types]
        if missing:
            raise FatalError(f"side {flow.id}: table {table} has no column {', '.join(missing)}")
        self.cursor = source.cursor if source.cursor in types else None
        self.stamp = self.cursor if self.cursor and types[self.cursor].startswith(_TEMPORAL) else None
        self.soft = source.soft_delete_column if source.deletes == "soft" else None
        self.read_until = read_until if self.cursor else None

    def apply(self, conn: psycopg.Connection[Any], write: RecordWrite) -> RecordResult:
        self._check_columns(write)
        if write.op == "delete":
            return self._delete(conn, write)
        if write.key is None:
            return self._mint(conn, write)
        return self._upsert(conn, write)

    def _check_columns(self, write: RecordWrite) -> None:
        unknown = [c for c in [*write.values, *(write.key or {})] if c not in self.types]
        if unknown:
            raise FatalError(f"table {self.table} has no column {', '.join(sorted(unknown))}")

    def _value(self, column: str) -> sql.Composable:
        from psycopg import sql

        return sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(self.types[column]))

    def _extra(self) -> dict[str, sql.Composable]:
        """Columns every write sets: the cursor stamp, and a soft delete marker cleared."""
        from psycopg import sql

        extra: dict[str, sql.Composable] = {}
        if self.stamp:
            extra[self.stamp] = sql.SQL("clock_timestamp()")
        if self.soft:
            extra[self.soft] = sql.SQL("false") if self.types[self.soft] == "boolean" else sql.SQL("NULL")
        return extra

    def _guard(self, alias: str) -> tuple[sql.Composable, list[Any]]:
        """Only rows not changed since the run read the side."""
        from psycopg import sql

        if self.read_until is None or self.cursor is None:
            return sql.SQL("true"), []
        return (
            compose("({0}.{1} IS NULL OR {0}.{1} <= %s::{2})", sql.Identifier(alias), sql.Identifier(self.cursor),
                    sql.SQL(self.types[self.cursor])),
            [self.read_until],
        )  # fmt: skip

    def _key_match(self, alias: str, key: dict[str, Any]) -> tuple[sql.Composable, list[Any]]:
        from psycopg import sql

        parts = [compose("{}.{} = ", sql.Identifier(alias), sql.Identifier(c)) + self._value(c) for c in self.key]
        return sql.SQL(" AND ").join(parts), [self._param(c, key[c]) for c in self.key]

    def _param(self, column: str, value: Any) -> Any:
        """JSON columns take JSON text; everything else is cast from the value by the server."""
        if value is not None and self.types[column] in ("json", "jsonb"):
            return json.dumps(value)
        return value

    def _upsert(self, conn: psycopg.Connection[Any], write: RecordWrite) -> RecordResult:
        from psycopg import sql

        assert write.key is not None
        values = {**write.values, **write.key}
        columns = list(values)
        extra = self._extra()
        updated = [c for c in columns if c not in self.key] + list(extra)
        guard, guard_params = self._guard("t")
        statement = compose(
            "INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} WHERE {} RETURNING *",
            self.table.sql,
            sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, *extra]),
            sql.SQL(", ").join([*(self._value(c) for c in columns), *extra.values()]),
            sql.SQL(", ").join(sql.Identifier(c) for c in self.key),
            sql.SQL(", ").join(compose("{0} = EXCLUDED.{0}", sql.Identifier(c)) for c in updated)
            if updated
            else compose("{0} = EXCLUDED.{0}", sql.Identifier(self.key[0])),
            guard,
        )
        row = _one(conn, statement, [*(self._param(c, values[c]) for c in columns), *guard_params])
        if row is None:
            return RecordResult(False, write.key)
        return RecordResult(True, {c: row[c] for c in self.key}, row)

    def _mint(self, conn: psycopg.Connection[Any], write: RecordWrite) -> RecordResult:
        """Insert a record whose key the side generates (an identity or serial column)."""
        from psycopg import sql

        columns = [c for c in write.values if c not in self.key]
        extra = self._extra()
        statement = compose(
            "INSERT INTO {} ({}) VALUES ({}) RETURNING *",
            self.table.sql,
            sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, *extra]),
            sql.SQL(", ").join([*(self._value(c) for c in columns), *extra.values()]),
        )
        row = _one(conn, statement, [self._param(c, write.values[c]) for c in columns])
        assert row is not None
        return RecordResult(True, {c: row[c] for c in self.key}, row)

    def _delete(self, conn: psycopg.Connection[Any], write: RecordWrite) -> RecordResult:
        from psycopg import sql

        if write.key is None:
            return RecordResult(True, None)
        match, params = self._key_match("t", write.key)
        guard, guard_params = self._guard("t")
        if self.soft:
            marker = sql.SQL("true") if self.types[self.soft] == "boolean" else sql.SQL("clock_timestamp()")
            sets = [compose("{} = ", sql.Identifier(self.soft)) + marker]
            if self.stamp and self.stamp != self.soft:
                sets.append(compose("{} = clock_timestamp()", sql.Identifier(self.stamp)))
            statement = compose(
                "UPDATE {} AS t SET {} WHERE {} AND {} RETURNING 1",
                self.table.sql, sql.SQL(", ").join(sets), match, guard,
            )  # fmt: skip
        else:
            statement = compose("DELETE FROM {} AS t WHERE {} AND {} RETURNING 1", self.table.sql, match, guard)
        if _one(conn, statement, [*params, *guard_params]) is not None:
            return RecordResult(True, write.key)
        # Nothing deleted: gone already (done), or changed since the run read it (left alone).
        exists, params = self._key_match("t", write.key)
        still = _one(conn, compose("SELECT 1 FROM {} AS t WHERE {}", self.table.sql, exists), params)
        return RecordResult(still is None, write.key)


def _one(conn: psycopg.Connection[Any], statement: sql.Composable, params: list[Any]) -> dict[str, Any] | None:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(statement, params)
        return cur.fetchone()
