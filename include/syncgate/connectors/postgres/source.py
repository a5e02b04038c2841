"""The PostgreSQL source: a table or a SELECT, read in one snapshot into landed Parquet.

The whole read runs in one REPEATABLE READ snapshot, so the rows, the next watermark and the
key set used for hard-delete detection agree with each other. Rows stream through
``COPY ... TO STDOUT`` in bounded chunks (binary, decoded by the ADBC driver, see ``adbc_out``;
or CSV parsed by Arrow): memory stays flat whatever the table size.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.batch.window import Window, plan_window
from syncgate.connectors.base import ReadRequest, SourceRead
from syncgate.connectors.postgres.copy_out import copy_to_parquet, landed_columns
from syncgate.connectors.postgres.reserved import refuse_syncgate_relations
from syncgate.connectors.postgres.source_sql import (
    PARAMS,
    next_watermark,
    select,
    source_relation,
    window_sql,
)
from syncgate.connectors.postgres.spec import PostgresSource as PostgresSourceSpec
from syncgate.db.catalog import Columns, query_columns, table_columns
from syncgate.db.column_types import column_type_problems
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError
from syncgate.hashing import hash_keys

if TYPE_CHECKING:
    import psycopg

    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec
    from syncgate.state.watermarks import Watermark


class PostgresSource:
    """Reads a table or query of the database behind ``conn_id``."""

    libraries: tuple[str, ...] = ("adbc_driver_manager", "adbc_driver_postgresql")
    lands_postgres_text = True

    def __init__(self, spec: PostgresSourceSpec) -> None:
        self.spec = spec

    def plan_window(self, flow: FlowSpec, run: RunInfo, mark: Watermark) -> Window:
        return plan_window(self.spec.cursor, run, mark, skip_boundary=flow.target.write == "append")

    def current_schema(self, flow: FlowSpec) -> Columns:
        with connect(self.spec.conn_id) as conn:
            return self._available(conn, flow.id)

    def read(self, request: ReadRequest) -> SourceRead:
        flow, window = request.flow, request.window
        batch_id = uuid.uuid4().hex
        directory = landing.batch_dir(flow.id, batch_id)
        with connect(self.spec.conn_id) as source:
            source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            available = self._available(source, flow.id)
            columns = self._chosen(flow, available)
            _check_soft_delete_type(flow, columns)
            _check_column_types(source, flow, columns)
            _check_column_names(flow, columns)
            hashed = hash_keys(
                flow, (c for c, _ in columns if flow.transform.output_name(c) in flow.transform.hash)
            )
            relation = source_relation(flow)
            condition, params = window_sql(flow, window)
            data_path = directory / "data.parquet"
            rows, data_bytes = copy_to_parquet(
                source,
                select(relation, [c for c, _ in columns], condition),
                params,
                columns,
                data_path,
                hashed,
                conn_id=self.spec.conn_id,
            )
            files = {"data": str(data_path)}
            key_bytes = 0
            if request.with_key_set:
                key_columns = [c for c in columns if c[0] in self.spec.primary_key]
                keys_path = directory / "keys.parquet"
                _, key_bytes = copy_to_parquet(
                    source,
                    select(relation, self.spec.primary_key, None),
                    dict(PARAMS),
                    key_columns,
                    keys_path,
                    conn_id=self.spec.conn_id,
                )
                files["keys"] = str(keys_path)
            new_mark = next_watermark(source, flow, relation, condition, params, window) if rows else None
            source.rollback()
        return SourceRead(
            batch_id=batch_id,
            files=files,
            columns=landed_columns(columns, hashed),
            rows=rows,
            bytes=data_bytes + key_bytes,
            next_watermark=new_mark,
            fields_unselected=_unselected([c for c, _ in available], columns),
        )

    def _available(self, conn: psycopg.Connection[Any], flow_id: str = "") -> Columns:
        if self.spec.table:
            return table_columns(conn, TableRef.parse(self.spec.table))
        refuse_syncgate_relations(conn, flow_id, str(self.spec.query))
        return query_columns(conn, str(self.spec.query))

    def _chosen(self, flow: FlowSpec, available: Columns) -> Columns:
        """The columns to extract: ``source.columns``, or every column the source offers."""
        source = self.spec
        if source.columns is None:
            chosen = available
        else:
            types = dict(available)
            missing = [c for c in source.columns if c not in types]
            if missing:
                raise FatalError(
                    f"flow {flow.id!r}: source.columns names column(s) the source lacks: "
                    f"{', '.join(missing)} (available: {', '.join(types)})"
                )
            chosen = [(c, types[c]) for c in source.columns]
        needed = [*source.primary_key, source.cursor, source.soft_delete_column]
        missing = [c for c in needed if c and c not in dict(chosen)]
        if missing:
            raise FatalError(f"flow {flow.id!r}: the source has no column(s) {', '.join(missing)}")
        return chosen


def _unselected(available: list[str], chosen: Columns) -> list[str]:
    selected = {c for c, _ in chosen}
    return [c for c in available if c not in selected]


def _check_column_names(spec: FlowSpec, columns: Columns) -> None:
    try:
        spec.check_column_names([c for c, _ in columns])
    except ValueError as exc:
        raise FatalError(
            f"flow {spec.id!r}: {exc} (source columns: {', '.join(c for c, _ in columns)})"
        ) from exc


def _check_column_types(conn: psycopg.Connection[Any], spec: FlowSpec, columns: Columns) -> None:
    """Keys and the cursor must be comparable where they are read (``max()``, window bounds)."""
    source = spec.source
    ordered = [source.cursor] if source.cursor else []
    compared = [(name, pg_type) for name, pg_type in columns if name in {*source.primary_key, *ordered}]
    problems = column_type_problems(
        conn, compared, keys=source.primary_key, ordered=ordered, database="the source database"
    )
    if problems:
        raise FatalError(f"flow {spec.id!r}: nothing was extracted: " + "; ".join(problems))


def _check_soft_delete_type(spec: FlowSpec, columns: Columns) -> None:
    column = spec.source.soft_delete_column
    if column is None:
        return
    pg_type = dict(columns)[column]
    if pg_type != "boolean" and not pg_type.startswith(("timestamp", "date")):
        raise FatalError(
            f"flow {spec.id!r}: soft_delete_column {column!r} is {pg_type}; it must be boolean (true = "
            "deleted) or a date/timestamp (set = deleted), or every row with a value would be deleted"
        )
