"""Extract: stream the run's window out of the source into a landed Parquet batch.

The whole extract reads one REPEATABLE READ snapshot, so the rows, the new watermark and
the key set used for hard-delete detection agree with each other. Rows stream through
``COPY ... TO STDOUT`` in bounded chunks (binary, decoded by the ADBC driver, see ``adbc_out``;
or CSV parsed by Arrow): memory stays flat whatever the table size.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.db.catalog import Columns, query_columns, table_columns
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError
from syncgate.pipeline.copy_out import copy_to_parquet
from syncgate.pipeline.hashing import hash_keys, landed_columns
from syncgate.pipeline.run import RunInfo
from syncgate.pipeline.source_sql import PARAMS, next_watermark, select, source_relation, window_sql
from syncgate.pipeline.startup import import_libraries
from syncgate.pipeline.window import plan_window
from syncgate.spec.model import FlowSpec, PostgresSource
from syncgate.state import audit
from syncgate.state.schema import ensure_state_schema
from syncgate.state.watermarks import read_watermark

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


def extract(spec: FlowSpec, run: RunInfo) -> dict[str, Any]:
    """Land the run's window as Parquet and return the batch manifest."""
    if spec.source.type == "http":
        from syncgate.pipeline.extract_http import extract_http

        return extract_http(spec, run)
    startup = import_libraries("extract")
    started = time.monotonic()
    batch_id = uuid.uuid4().hex
    with connect(spec.state_conn_id) as target:
        ensure_state_schema(target)
        mark = read_watermark(target, spec.id)
        target.commit()
    window = plan_window(spec.source.cursor, run, mark, skip_boundary=spec.target.write == "append")
    directory = landing.batch_dir(spec.id, batch_id)

    with connect(spec.source.conn_id) as source:
        source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        columns, offered = _source_columns(source, spec)
        _check_soft_delete_type(spec, columns)
        _check_column_names(spec, columns)
        hashed = _hashed_columns(spec, columns)
        relation = source_relation(spec)
        condition, params = window_sql(spec, window)
        data_path = directory / "data.parquet"
        rows, data_bytes = copy_to_parquet(
            source,
            select(relation, [c for c, _ in columns], condition),
            params,
            columns,
            data_path,
            hashed,
            conn_id=spec.source.conn_id,
        )
        files = {"data": str(data_path)}
        key_bytes = 0
        if spec.source.deletes == "hard" and spec.source.cursor and not run.is_backfill:
            key_columns = [c for c in columns if c[0] in spec.source.primary_key]
            keys_path = directory / "keys.parquet"
            _, key_bytes = copy_to_parquet(
                source,
                select(relation, spec.source.primary_key, None),
                dict(PARAMS),
                key_columns,
                keys_path,
                conn_id=spec.source.conn_id,
            )
            files["keys"] = str(keys_path)
        new_mark = next_watermark(source, spec, relation, condition, params, window) if rows else None
        source.rollback()

    seconds = time.monotonic() - started
    watermark_after = new_mark["value"] if new_mark else mark.value
    manifest: dict[str, Any] = {
        "flow_id": spec.id,
        "run_id": run.run_id,
        "batch_id": batch_id,
        "files": files,
        "columns": landed_columns(columns, hashed),
        "rows": rows,
        "bytes": data_bytes + key_bytes,
        # What the landed zstd Parquet would weigh uncompressed (footer sizes: no data read).
        "bytes_uncompressed": sum(landing.uncompressed_bytes(url) for url in files.values()),
        "fields_unselected": _unselected(offered, columns),
        "window": window.as_dict(),
        "watermark_before": mark.value,
        "watermark_batch_before": mark.batch_id,
        "watermark_after": watermark_after if window.moves_watermark else mark.value,
        "boundary": _save_boundary(directory, new_mark) if window.moves_watermark else None,
        "seconds": {"extract": seconds, "extract_startup": startup},
    }
    with connect(spec.state_conn_id) as target:
        audit.start_run(
            target,
            spec.id,
            run.run_id,
            run_type=run.run_type,
            batch_id=batch_id,
            window_from=window.lower,
            window_to=window.upper,
            watermark_before=mark.value,
            rows_extracted=rows,
            bytes_landed=manifest["bytes"],
            extract_seconds=seconds,
        )
        target.commit()
    log.info(
        "Extracted %d rows (%d bytes landed) of flow %s in %.2fs, window %s",
        rows, manifest["bytes"], spec.id, seconds, window.as_dict(),
    )  # fmt: skip
    return manifest


def _source_columns(conn: psycopg.Connection[Any], spec: FlowSpec) -> tuple[Columns, list[str]]:
    """The columns to extract, and every column the source offers (for the report's dropped fields)."""
    source = spec.source
    assert isinstance(source, PostgresSource)  # extract() sends HTTP sources elsewhere
    if source.table:
        available = table_columns(conn, TableRef.parse(source.table))
    else:
        available = query_columns(conn, str(source.query))
    if source.columns is None:
        chosen = available
    else:
        types = dict(available)
        missing = [c for c in source.columns if c not in types]
        if missing:
            raise FatalError(
                f"flow {spec.id!r}: source.columns names column(s) the source lacks: "
                f"{', '.join(missing)} (available: {', '.join(types)})"
            )
        chosen = [(c, types[c]) for c in source.columns]
    needed = [*source.primary_key, source.cursor, source.soft_delete_column]
    missing = [c for c in needed if c and c not in dict(chosen)]
    if missing:
        raise FatalError(f"flow {spec.id!r}: the source has no column(s) {', '.join(missing)}")
    return chosen, [c for c, _ in available]


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


def _hashed_columns(spec: FlowSpec, columns: Columns) -> dict[str, bytes]:
    """Source columns to hash before landing, with the key (PII never lands in clear)."""
    return hash_keys(spec, (c for c, _ in columns if spec.transform.output_name(c) in spec.transform.hash))


def _save_boundary(directory: Any, mark: dict[str, Any] | None) -> str | None:
    """Boundary keys can be many (a batch job stamping one timestamp): keep them out of XCom."""
    import json

    if mark is None:
        return None
    path = directory / "boundary.json"
    path.write_text(json.dumps(mark))  # one write: the keys can be many
    return str(path)
