"""The boundary is real: a connector defined here, outside the engine, runs a whole DAG.

``sqlite_test`` is the smallest complete connector: a source reading a SQLite table by a cursor
column, and a target merging into a SQLite table, each behind an Airflow connection whose
``host`` is the database file. It uses only what a third-party package could: the protocols,
the registry, the spec bases, ``landing``, ``batch.window``, ``state.watermarks`` and
``state.audit``. State, audit and staging stay on PostgreSQL (the target's ``state_conn_id``).

Cursor values are ISO-8601 text in one fixed format, so SQLite compares them as text.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from helpers import rows, task_states
from pydantic import Field, model_validator

from syncgate import landing
from syncgate.arrow_types import arrow_schema
from syncgate.batch.settle import Written, apply_once
from syncgate.batch.staging import keys_table
from syncgate.batch.window import Window, plan_window
from syncgate.connectors.base import AssetRef, Connector, ReadRequest, SourceRead
from syncgate.connectors.registry import register, unregister
from syncgate.db.identifiers import TableRef
from syncgate.db.sql import compose
from syncgate.errors import FatalError
from syncgate.spec.fields import Name, SourceSpec, TargetSpec, check_keys
from syncgate.state.watermarks import KEY_SEPARATOR, Watermark

if TYPE_CHECKING:
    import psycopg

    from syncgate.batch.contract import Batch, Columns
    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec

TYPE = "sqlite_test"
COUNTS = ("rows_inserted", "rows_updated", "rows_deleted")


# -- spec models ----------------------------------------------------------------------------


class SqliteSourceSpec(SourceSpec):
    """A SQLite table, read by ``cursor`` (ISO-8601 text)."""

    type: Literal["sqlite_test"]
    conn_id: Name
    table: Name
    primary_key: list[Name] = Field(default_factory=list)
    cursor: Name | None = None
    columns: list[Name] | None = None
    deletes: Literal["none", "hard"] = "none"
    soft_delete_column: None = None

    @model_validator(mode="after")
    def _check(self) -> SqliteSourceSpec:
        check_keys(self)
        return self


class SqliteTargetSpec(TargetSpec):
    """A SQLite table kept equal to the source by key; state lives on PostgreSQL."""

    type: Literal["sqlite_test"]
    conn_id: Name
    state_conn_id: Name
    table: Name
    write: Literal["merge"] = "merge"

    def state_connection(self) -> str:
        return self.state_conn_id


# -- the connection ------------------------------------------------------------------------


def open_db(conn_id: str) -> sqlite3.Connection:
    """The SQLite file named by the Airflow connection's ``host``; transactions are explicit."""
    from airflow.sdk import BaseHook

    path = BaseHook.get_connection(conn_id).host
    if not path or not Path(path).parent.is_dir():
        raise FatalError(f"connection {conn_id!r} names no usable SQLite file")
    return sqlite3.connect(path, isolation_level=None)


def quoted(name: str) -> str:
    # Names are validated spec identifiers ([A-Za-z_][A-Za-z0-9_]*): quoting cannot be escaped.
    return f'"{name}"'


def landed_type(declared: str) -> str:
    """The PostgreSQL type a SQLite column lands as: integers and floats typed, the rest text."""
    declared = declared.upper()
    if "INT" in declared:
        return "bigint"
    if any(t in declared for t in ("REAL", "FLOA", "DOUB")):
        return "double precision"
    return "text"


def table_columns(db: sqlite3.Connection, table: str) -> Columns:
    found = db.execute(f"PRAGMA table_info({quoted(table)})").fetchall()
    return [(str(row[1]), landed_type(str(row[2]))) for row in found]


def key_text(values: tuple[Any, ...]) -> str:
    """A row's key as the engine stores boundary keys (text, composite keys joined)."""
    return KEY_SEPARATOR.join(str(v) for v in values)


# -- the source ----------------------------------------------------------------------------


class SqliteSource:
    libraries: tuple[str, ...] = ()
    lands_postgres_text = False

    def __init__(self, spec: SqliteSourceSpec) -> None:
        self.spec = spec

    def plan_window(self, flow: FlowSpec, run: RunInfo, mark: Watermark) -> Window:
        return plan_window(self.spec.cursor, run, mark, skip_boundary=flow.target.write == "append")

    def current_schema(self, flow: FlowSpec) -> Columns:
        with closing(open_db(self.spec.conn_id)) as db:
            return table_columns(db, self.spec.table)

    def read(self, request: ReadRequest) -> SourceRead:
        flow, window, spec = request.flow, request.window, self.spec
        if flow.transform.hash:
            # Hashing happens before landing, in the source: this one does not implement it.
            raise FatalError(f"flow {flow.id!r}: the {TYPE} source cannot hash columns")
        batch_id = uuid.uuid4().hex
        directory = landing.batch_dir(flow.id, batch_id)
        with closing(open_db(spec.conn_id)) as db:
            db.execute("BEGIN")  # one read transaction: rows, watermark and key set agree
            available = table_columns(db, spec.table)
            wanted = spec.columns or [name for name, _ in available]
            columns = [(n, t) for n, t in available if n in wanted]
            names = [n for n, _ in columns]
            found = self._window_rows(db, names, window)
            data_path = directory / "data.parquet"
            size = land(data_path, columns, found)
            files = {"data": str(data_path)}
            if request.with_key_set:
                keys_path = directory / "keys.parquet"
                key_columns = [c for c in columns if c[0] in spec.primary_key]
                key_cols = ", ".join(quoted(k) for k in spec.primary_key)
                all_keys = db.execute(f"SELECT {key_cols} FROM {quoted(spec.table)}").fetchall()
                size += land(keys_path, key_columns, all_keys)
                files["keys"] = str(keys_path)
            mark = self._next_watermark(db, flow, names, found, window)
            db.execute("COMMIT")
        return SourceRead(
            batch_id=batch_id,
            files=files,
            columns=columns,
            rows=len(found),
            bytes=size,
            next_watermark=mark,
            fields_unselected=[n for n, _ in available if n not in wanted],
        )

    def _window_rows(self, db: sqlite3.Connection, names: list[str], window: Window) -> list[tuple[Any, ...]]:
        spec = self.spec
        query = f"SELECT {', '.join(map(quoted, names))} FROM {quoted(spec.table)}"
        params: list[Any] = []
        if spec.cursor and window.lower is not None:
            query += f" WHERE {quoted(spec.cursor)} >= ?"
            params.append(window.lower)
            if window.upper is not None:
                query += f" AND {quoted(spec.cursor)} < ?"
                params.append(window.upper)
        found = db.execute(query, params).fetchall()
        if not window.skip_keys:
            return found
        # Append: the boundary rows the previous run promoted are not read again.
        skip, at = set(window.skip_keys), names.index(str(spec.cursor))
        key_at = [names.index(k) for k in spec.primary_key]
        return [
            r for r in found if not (r[at] == window.lower and key_text(tuple(r[i] for i in key_at)) in skip)
        ]

    def _next_watermark(
        self,
        db: sqlite3.Connection,
        flow: FlowSpec,
        names: list[str],
        found: list[tuple[Any, ...]],
        window: Window,
    ) -> dict[str, Any] | None:
        cursor = self.spec.cursor
        if cursor is None or not window.moves_watermark or not found:
            return None
        value = max(r[names.index(cursor)] for r in found)
        keys: list[str] = []
        if flow.target.write == "append":  # only append skips the boundary rows next time
            key_cols = ", ".join(quoted(k) for k in self.spec.primary_key)
            at_value = db.execute(
                f"SELECT {key_cols} FROM {quoted(self.spec.table)} WHERE {quoted(cursor)} = ?", (value,)
            )
            keys = [key_text(tuple(r)) for r in at_value]
        return {"value": str(value), "keys": keys}


def land(path: Any, columns: Columns, found: list[tuple[Any, ...]]) -> int:
    """Write ``found`` as one Parquet file of the landing area; returns its size."""
    import pyarrow as pa

    schema = arrow_schema(columns)
    text = [t == "text" for _, t in columns]
    records = [
        {n: str(v) if as_text and v is not None else v
         for (n, _), v, as_text in zip(columns, r, text, strict=True)}
        for r in found
    ]  # fmt: skip
    with landing.ParquetSink(path, schema) as sink:
        sink.write(pa.Table.from_pylist(records, schema=schema))
        return sink.close()


# -- the target ----------------------------------------------------------------------------


class SqliteTarget:
    libraries: tuple[str, ...] = ()

    def __init__(self, spec: SqliteTargetSpec) -> None:
        self.spec = spec

    def asset(self, flow: FlowSpec) -> AssetRef:
        return AssetRef(
            name=f"{self.spec.conn_id}.{self.spec.table}",
            uri=f"sqlite-test://{self.spec.conn_id}/{self.spec.table}",
        )

    def describe(self, flow: FlowSpec) -> str:
        return f"**Target:** SQLite table `{self.spec.table}` on connection `{self.spec.conn_id}`."

    def column_types(self, conn: psycopg.Connection[Any], flow: FlowSpec) -> dict[str, str]:
        return {}  # SQLite keeps no PostgreSQL types: a source inferring types infers its own

    def adopts_staging(self, conn: psycopg.Connection[Any], flow: FlowSpec, batch: Batch) -> bool:
        return False

    def freshness_table(self, flow: FlowSpec) -> TableRef | None:
        return None

    def apply(self, flow: FlowSpec, run: RunInfo, batch: Batch) -> dict[str, int]:
        """Merge the staged batch into SQLite inside the engine's settling frame.

        ``apply_once`` locks the flow, refuses a batch the gate did not pass as it is, skips one
        already applied, and afterwards moves the watermark and closes the audit row. Two
        systems, no shared transaction: SQLite commits first, the state second; a crash between
        them leaves the watermark behind, and the retry merges the same rows again (which
        changes nothing) before it settles.
        """
        staging = TableRef.parse(str(batch.staging_table))

        def write(state: psycopg.Connection[Any]) -> Written:
            staged = staged_rows(state, staging, batch.columns)
            source_keys = None
            if flow.source.deletes == "hard" and not run.is_backfill:
                keyset = keys_table(run) if batch.has_key_set else staging
                source_keys = {tuple(r) for r in staged_rows(state, keyset, key_columns(flow, batch))}
            return Written(self._merge(flow, [n for n, _ in batch.columns], staged, source_keys))

        return apply_once(flow, run, batch, write)

    def _merge(
        self,
        flow: FlowSpec,
        names: list[str],
        staged: list[tuple[Any, ...]],
        source_keys: set[tuple[Any, ...]] | None,
    ) -> dict[str, int]:
        key = flow.target_primary_key
        key_at = [names.index(k) for k in key]
        table = quoted(self.spec.table)
        counts = dict.fromkeys(COUNTS, 0)
        with closing(open_db(self.spec.conn_id)) as db:
            db.execute("BEGIN IMMEDIATE")
            columns = ", ".join(map(quoted, names))
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY ({', '.join(map(quoted, key))}))"
            )
            by_key = {tuple(r[: len(key)]): tuple(r[len(key) :]) for r in db.execute(
                f"SELECT {', '.join(map(quoted, key))}, {columns} FROM {table}"
            )}  # fmt: skip
            match = " AND ".join(f"{quoted(k)} = ?" for k in key)
            for row in staged:
                row_key = tuple(row[i] for i in key_at)
                if row_key not in by_key:
                    db.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(names))})", row)
                    counts["rows_inserted"] += 1
                elif by_key[row_key] != tuple(row):  # the boundary rows are re-read: only real changes count
                    sets = ", ".join(f"{quoted(n)} = ?" for n in names)
                    db.execute(f"UPDATE {table} SET {sets} WHERE {match}", (*row, *row_key))
                    counts["rows_updated"] += 1
            if source_keys is not None:
                for gone in set(by_key) - source_keys:
                    db.execute(f"DELETE FROM {table} WHERE {match}", gone)
                    counts["rows_deleted"] += 1
            db.execute("COMMIT")
        return counts


def key_columns(flow: FlowSpec, batch: Batch) -> Columns:
    types = dict(batch.columns)
    return [(k, types[k]) for k in flow.target_primary_key]


def staged_rows(state: psycopg.Connection[Any], table: TableRef, columns: Columns) -> list[tuple[Any, ...]]:
    """Rows of a staging table as SQLite stores them: integers as integers, the rest as text."""
    from psycopg import sql

    outputs = [
        sql.SQL("{}" if t in ("bigint", "integer", "smallint") else "{}::text").format(sql.Identifier(n))
        for n, t in columns
    ]
    query = compose("SELECT {} FROM {}", sql.SQL(", ").join(outputs), table.sql)
    return [tuple(r) for r in state.execute(query).fetchall()]


# -- registration, for one module at a time -------------------------------------------------


@contextmanager
def sqlite_connector() -> Iterator[None]:
    """``type: sqlite_test`` is valid inside the block only."""
    register(
        Connector(TYPE, SqliteSourceSpec, SqliteTargetSpec, SqliteSource, SqliteTarget)  # type: ignore[arg-type]
    )
    try:
        yield
    finally:
        unregister(TYPE)


@pytest.fixture(scope="module", autouse=True)
def _registered() -> Iterator[None]:
    with sqlite_connector():
        yield


# -- harness: seed, change and read back the SQLite tables ----------------------------------

ITEMS_DDL = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount TEXT, updated_at TEXT NOT NULL)"
)


def stamp(minute: int) -> str:
    """Cursor values in the one text format the source compares."""
    return f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00+00:00"


def wire_sqlite(monkeypatch: pytest.MonkeyPatch, conn_id: str, path: Path) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )


def sqlite_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(f"SELECT * FROM {quoted(table)} ORDER BY 1").fetchall()


def sqlite_execute(path: Path, *statements: tuple[str, Any] | str) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        for statement in statements:
            query, params = (statement, ()) if isinstance(statement, str) else statement
            db.execute(query, params)


class SqliteSourceHarness:
    """The contract suite's view of the ``sqlite_test`` source (``contract_harnesses``)."""

    name = TYPE

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = tmp_path / "contract_src.sqlite"
        wire_sqlite(monkeypatch, "sqlite_src", self.path)

    def source(self) -> dict[str, Any]:
        return {
            "type": TYPE,
            "conn_id": "sqlite_src",
            "table": "items",
            "primary_key": ["id"],
            "cursor": "updated_at",
        }

    def seed(self, count: int) -> None:
        self.path.unlink(missing_ok=True)
        sqlite_execute(
            self.path,
            ITEMS_DDL,
            *[
                ("INSERT INTO items VALUES (?, ?, ?, ?)", (i, f"item {i}", f"{i}.25", stamp(i // 2)))
                for i in range(1, count + 1)
            ],
        )

    def upsert(self, keys: list[int], at: datetime) -> None:
        sqlite_execute(
            self.path,
            *[
                ("INSERT INTO items VALUES (?, ?, NULL, ?) ON CONFLICT (id) DO UPDATE SET name = name || '+', "
                 "updated_at = excluded.updated_at", (k, f"item {k}", self.stamp(at)))
                for k in keys
            ],
        )  # fmt: skip

    def cursors(self) -> dict[int, datetime]:
        with closing(sqlite3.connect(self.path)) as db:
            return {k: datetime.fromisoformat(v) for k, v in db.execute("SELECT id, updated_at FROM items")}

    def stamp(self, at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%S+00:00")

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> None:
        return None  # a SQLite file has no credentials


class SqliteTargetHarness:
    name = TYPE
    columns = ("name", "email", "status", "tier", "lifetime_value", "updated_at")

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = tmp_path / "contract_dst.sqlite"
        wire_sqlite(monkeypatch, "sqlite_dst", self.path)

    def target(self) -> dict[str, Any]:
        return {"type": TYPE, "conn_id": "sqlite_dst", "state_conn_id": "dst_db", "table": "customers"}

    def contents(self) -> dict[int, tuple[str | None, ...]]:
        columns = ", ".join(map(quoted, self.columns))
        with closing(sqlite3.connect(self.path)) as db:
            return {
                int(r[0]): tuple(None if v is None else str(v) for v in r[1:])
                for r in db.execute(f"SELECT id, {columns} FROM customers")
            }

    def break_credentials(self, monkeypatch: pytest.MonkeyPatch) -> None:
        return None


# -- a whole DAG through the test connector --------------------------------------------------

SPEC = """
id: sqlite_items
description: The test-only SQLite connector, end to end.
retries: 0
source:
  type: sqlite_test
  conn_id: sqlite_src
  table: items
  primary_key: [id]
  cursor: updated_at
  deletes: hard
target:
  type: sqlite_test
  conn_id: sqlite_dst
  state_conn_id: dst_db
  table: items_copy
quality:
  expectations:
    - type: expect_column_values_to_not_be_null
      kwargs: {column: name}
"""


@pytest.mark.integration
def test_a_connector_defined_outside_the_engine_runs_the_whole_dag(
    databases: dict[str, str], airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import yaml

    from syncgate.dag_factory import build_dag
    from syncgate.spec.model import FlowSpec

    src, dst = tmp_path / "src.sqlite", tmp_path / "dst.sqlite"
    wire_sqlite(monkeypatch, "sqlite_src", src)
    wire_sqlite(monkeypatch, "sqlite_dst", dst)
    # 40 items; minute i // 2 (two items per cursor value), so only item 40 holds the newest (19:..).
    sqlite_execute(
        src,
        ITEMS_DDL,
        *[
            ("INSERT INTO items VALUES (?, ?, ?, ?)", (i, f"item {i}", f"{i}.50", stamp(i // 2)))
            for i in range(1, 41)
        ],
    )
    flows = tmp_path / "flows"
    flows.mkdir()
    path = flows / "sqlite_items.yml"
    path.write_text(textwrap.dedent(SPEC))
    spec = FlowSpec.model_validate(yaml.safe_load(path.read_text()))
    # dag.test() runs only DAGs it finds serialized: it bags the DAG folder, whose loader builds
    # this same spec (the connector is registered in this process) with build_dag, as here.
    monkeypatch.setenv("SYNCGATE_FLOWS_DIR", str(flows))

    first = build_dag(spec, path).test()
    assert task_states(first) == dict.fromkeys(
        ["extract", "transform", "load", "verify", "promote"], "success"
    )
    assert sqlite_rows(dst, "items_copy") == sqlite_rows(src, "items")
    assert run_counts(databases["dst"], first.run_id) == (40, 40, 0, 0)
    assert watermark(databases["dst"]) == stamp(20)

    # Three updates and two inserts at a new cursor value, one delete of an old item.
    sqlite_execute(
        src,
        ("UPDATE items SET name = name || ' v2', updated_at = ? WHERE id IN (3, 4, 5)", (stamp(90),)),
        (
            "INSERT INTO items VALUES (41, 'item 41', NULL, ?), (42, 'item 42', '0.01', ?)",
            (stamp(90), stamp(90)),
        ),
        "DELETE FROM items WHERE id = 7",
    )
    second = build_dag(spec, path).test()
    assert task_states(second)["promote"] == "success"
    assert sqlite_rows(dst, "items_copy") == sqlite_rows(src, "items")
    # Read: the five changed rows plus item 40 at the old watermark (>=: re-read, unchanged).
    assert run_counts(databases["dst"], second.run_id) == (6, 2, 3, 1)
    assert watermark(databases["dst"]) == stamp(90)

    # Nothing of the batch is left behind on the state database.
    assert rows(databases["dst"], "SELECT count(*) FROM pg_tables WHERE schemaname = 'syncgate_staging'") == [
        (0,)
    ]


def run_counts(state_url: str, run_id: str) -> tuple[int, ...]:
    found = rows(
        state_url,
        "SELECT rows_extracted, rows_inserted, rows_updated, rows_deleted, status FROM syncgate.sync_runs "
        "WHERE flow_id = 'sqlite_items' AND run_id = %s",
        (run_id,),
    )
    assert found and found[0][-1] == "success", found
    return tuple(found[0][:-1])


def watermark(state_url: str) -> str:
    return str(rows(state_url, "SELECT value FROM syncgate.watermarks WHERE flow_id = 'sqlite_items'")[0][0])
