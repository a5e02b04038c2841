"""A PostgreSQL table as a side of a sync flow: single records written by key, in one transaction.

Each write is guarded by the side's change clock: a row whose cursor is past what this run
read changed after the read, so it is left alone and the next run merges that change instead
of overwriting it (compare-and-set). Writes stamp the cursor (when it is a time) so that other
readers of the table, such as one-way flows from it, see syncgate's changes too; the echo of
that stamp is no edit to syncgate (``syncgate.reconcile``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from syncgate.arrow_types import arrow_type
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
# ``character(n)``: its text cast trims the blanks that its output (and so the extract) keeps.
_BPCHAR = re.compile(r"character(\(\d+\))?")
# Writes sent per pipeline: one network flush and one server sync per batch instead of a round
# trip per record, with the batch's results held in memory until it is read.
_PIPELINE_BATCH = 1000


def write_records(
    flow: FlowSpec, writes: Sequence[RecordWrite], *, read_until: str | None
) -> list[RecordResult]:
    """Apply ``writes`` to the side's table (see ``RecordWriter.write_records``)."""
    if not writes:
        return []
    table = TableRef.parse(str(flow.target.table))  # type: ignore[attr-defined]
    with connect(flow.target.conn_id) as conn:
        types = dict(table_columns(conn, table))
        plan = _Plan(flow, table, types, read_until, conn)
        results: list[RecordResult] = []
        with conn.transaction():
            for start in range(0, len(writes), _PIPELINE_BATCH):
                results.extend(plan.apply_batch(conn, writes[start : start + _PIPELINE_BATCH]))
    return results


class _Plan:
    def __init__(
        self,
        flow: FlowSpec,
        table: TableRef,
        types: dict[str, str],
        read_until: str | None,
        conn: psycopg.Connection[Any],
    ) -> None:
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
        self.conn = conn
        self._composed: dict[tuple[Any, ...], bytes] = {}  # statement texts, by shape

    def _once(self, shape: tuple[Any, ...], build: Callable[[], sql.Composable]) -> bytes:
        """A statement composed once per shape (operation and columns), then reused as text:
        rendering a composed statement costs more than sending it."""
        statement = self._composed.get(shape)
        if statement is None:
            statement = self._composed[shape] = build().as_bytes(self.conn)
        return statement

    def apply_batch(self, conn: psycopg.Connection[Any], writes: Sequence[RecordWrite]) -> list[RecordResult]:
        """Apply ``writes`` in order, pipelined: each is still one statement guarded by its own
        compare-and-set, and a failing one still aborts the side's transaction."""
        for write in writes:
            self._check_columns(write)
        writes = self._adopt_created(conn, writes)
        rows = _pipelined(conn, [self._statement(write) for write in writes])
        results: list[RecordResult | None] = []
        unsure: list[int] = []  # deletes that removed nothing: gone already, or changed since the read
        for index, (write, row) in enumerate(zip(writes, rows, strict=True)):
            if write.op == "delete":
                if write.key is None:
                    results.append(RecordResult(True, None))
                elif row is not None:
                    results.append(RecordResult(True, write.key))
                else:
                    results.append(None)
                    unsure.append(index)
            elif write.key is None:  # minted by the side
                assert row is not None
                results.append(RecordResult(True, {c: row[c] for c in self.key}, row))
            elif row is None:  # the guard left a row changed since the read alone
                results.append(RecordResult(False, write.key))
            else:
                results.append(RecordResult(True, {c: row[c] for c in self.key}, row))
        if unsure:
            still = _pipelined(conn, [self._exists(writes[i].key or {}) for i in unsure])
            for index, row in zip(unsure, still, strict=True):
                results[index] = RecordResult(row is None, writes[index].key)
        return [r for r in results if r is not None]

    def _adopt_created(
        self, conn: psycopg.Connection[Any], writes: Sequence[RecordWrite]
    ) -> list[RecordWrite]:
        """Keyless inserts of records the side already holds (an earlier attempt of this apply
        created them, then died before syncgate recorded their keys) become updates of them."""
        from psycopg import sql

        lookups = [i for i, w in enumerate(writes) if w.op == "insert" and w.key is None and w.match]
        if not lookups:
            return list(writes)
        statements = []
        for i in lookups:
            match = writes[i].match or {}
            condition = sql.SQL(" AND ").join(
                compose("{} = ", sql.Identifier(c)) + self._value(c) for c in match
            )
            statement = compose(
                "SELECT {} FROM {} WHERE {} LIMIT 1", self._returning(self.key), self.table.sql, condition
            ).as_bytes(conn)
            statements.append((statement, [self._param(c, v) for c, v in match.items()]))
        adopted = list(writes)
        for i, row in zip(lookups, _pipelined(conn, statements), strict=True):
            if row is not None:
                adopted[i] = dataclasses.replace(writes[i], key={c: row[c] for c in self.key})
        return adopted

    def _statement(self, write: RecordWrite) -> tuple[bytes | None, list[Any]]:
        if write.op == "delete":
            return self._delete(write)
        if write.key is None:
            return self._mint(write)
        return self._upsert(write)

    def _check_columns(self, write: RecordWrite) -> None:
        unknown = [c for c in [*write.values, *(write.key or {})] if c not in self.types]
        if unknown:
            raise FatalError(f"table {self.table} has no column {', '.join(sorted(unknown))}")

    def _value(self, column: str) -> sql.Composable:
        from psycopg import sql

        return sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(self.types[column]))

    def _returning(self, columns: Sequence[str] | None = None) -> sql.Composable:
        """The written row as the side's extract lands it: integers, floats and booleans as
        values, every other type as PostgreSQL's text of it. Python has no value for many of
        them ('infinity' dates, iso_8601 intervals, ranges, xml...), and psycopg would fail to
        load them after the write had succeeded."""
        from psycopg import sql

        def landed(name: str, pg_type: str) -> sql.Composable:
            if arrow_type(pg_type) != arrow_type("text"):
                return sql.Identifier(name)
            output = "pg_catalog.bpcharout({0})::text" if _BPCHAR.fullmatch(pg_type) else "{0}::text"
            return sql.SQL(output + " AS {0}").format(sql.Identifier(name))

        return sql.SQL(", ").join(landed(name, self.types[name]) for name in columns or self.types)

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

        parts = [
            compose("{}.{} = ", sql.Identifier(alias), sql.Identifier(c)) + self._value(c) for c in self.key
        ]
        return sql.SQL(" AND ").join(parts), [self._param(c, key[c]) for c in self.key]

    def _param(self, column: str, value: Any) -> Any:
        """JSON columns take JSON text; everything else is cast from the value by the server."""
        if value is not None and self.types[column] in ("json", "jsonb"):
            return json.dumps(value)
        return value

    def _upsert(self, write: RecordWrite) -> tuple[bytes, list[Any]]:
        assert write.key is not None
        values = {**write.values, **write.key}
        columns = list(values)
        guard, guard_params = self._guard("t")

        def build() -> sql.Composable:
            from psycopg import sql

            extra = self._extra()
            updated = [c for c in columns if c not in self.key] + list(extra)
            return compose(
                "INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} WHERE {} RETURNING {}",
                self.table.sql,
                sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, *extra]),
                sql.SQL(", ").join([*(self._value(c) for c in columns), *extra.values()]),
                sql.SQL(", ").join(sql.Identifier(c) for c in self.key),
                sql.SQL(", ").join(compose("{0} = EXCLUDED.{0}", sql.Identifier(c)) for c in updated)
                if updated
                else compose("{0} = EXCLUDED.{0}", sql.Identifier(self.key[0])),
                guard,
                self._returning(),
            )

        statement = self._once(("upsert", *columns), build)
        return statement, [*(self._param(c, values[c]) for c in columns), *guard_params]

    def _mint(self, write: RecordWrite) -> tuple[bytes, list[Any]]:
        """Insert a record whose key the side generates (an identity or serial column)."""
        columns = [c for c in write.values if c not in self.key]

        def build() -> sql.Composable:
            from psycopg import sql

            extra = self._extra()
            return compose(
                "INSERT INTO {} ({}) VALUES ({}) RETURNING {}",
                self.table.sql,
                sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, *extra]),
                sql.SQL(", ").join([*(self._value(c) for c in columns), *extra.values()]),
                self._returning(),
            )

        statement = self._once(("mint", *columns), build)
        return statement, [self._param(c, write.values[c]) for c in columns]

    def _delete(self, write: RecordWrite) -> tuple[bytes | None, list[Any]]:
        if write.key is None:
            return None, []
        match, params = self._key_match("t", write.key)
        guard, guard_params = self._guard("t")

        def build() -> sql.Composable:
            from psycopg import sql

            if self.soft:
                marker = (
                    sql.SQL("true") if self.types[self.soft] == "boolean" else sql.SQL("clock_timestamp()")
                )
                sets = [compose("{} = ", sql.Identifier(self.soft)) + marker]
                if self.stamp and self.stamp != self.soft:
                    sets.append(compose("{} = clock_timestamp()", sql.Identifier(self.stamp)))
                return compose(
                    "UPDATE {} AS t SET {} WHERE {} AND {} RETURNING 1",
                    self.table.sql, sql.SQL(", ").join(sets), match, guard,
                )  # fmt: skip
            return compose("DELETE FROM {} AS t WHERE {} AND {} RETURNING 1", self.table.sql, match, guard)

        return self._once(("delete",), build), [*params, *guard_params]

    def _exists(self, key: dict[str, Any]) -> tuple[bytes, list[Any]]:
        match, params = self._key_match("t", key)
        return self._once(
            ("exists",), lambda: compose("SELECT 1 FROM {} AS t WHERE {}", self.table.sql, match)
        ), params


def _pipelined(
    conn: psycopg.Connection[Any], statements: Sequence[tuple[bytes | None, list[Any]]]
) -> list[dict[str, Any] | None]:
    """Each statement's first row (None: no row, or no statement), sent in one pipeline."""
    from psycopg.rows import dict_row

    cursors: list[psycopg.Cursor[dict[str, Any]] | None] = []
    with conn.pipeline():
        for statement, params in statements:
            if statement is None:
                cursors.append(None)
                continue
            cur = conn.cursor(row_factory=dict_row)
            cur.execute(statement, params)
            cursors.append(cur)
    rows: list[dict[str, Any] | None] = []
    for done in cursors:
        if done is None:
            rows.append(None)
            continue
        rows.append(done.fetchone())
        done.close()
    return rows
