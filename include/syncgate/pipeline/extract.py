"""Extract: stream the run's window out of the source into a landed Parquet batch.

The whole extract reads one REPEATABLE READ snapshot, so the rows, the new watermark and
the key set used for hard-delete detection agree with each other. Rows stream through
``COPY ... TO STDOUT`` and are parsed by Arrow in bounded chunks: memory stays flat
whatever the table size.
"""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from syncgate import landing, settings
from syncgate.arrow_types import arrow_schema
from syncgate.db.catalog import Columns, query_columns, table_columns
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef, ident_list
from syncgate.errors import FatalError
from syncgate.pipeline.gc_pause import gc_paused
from syncgate.pipeline.hashing import keyed_hash
from syncgate.pipeline.run import RunInfo
from syncgate.pipeline.window import Window, plan_window
from syncgate.spec.model import FlowSpec
from syncgate.state import audit
from syncgate.state.schema import ensure_state_schema
from syncgate.state.watermarks import read_watermark

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa
    from psycopg import sql

log = logging.getLogger(__name__)

# Always bind at least one parameter: psycopg then reads an inlined `source.query`'s escaped
# ``%%`` as ``%`` in every statement, COPY included.
PARAMS: dict[str, Any] = {"syncgate": None}
KEY_SEPARATOR = "\x1f"  # joins composite primary keys into one comparable string


def extract(spec: FlowSpec, run: RunInfo) -> dict[str, Any]:
    """Land the run's window as Parquet and return the batch manifest."""
    started = time.monotonic()
    batch_id = uuid.uuid4().hex
    with connect(spec.target.conn_id) as target:
        ensure_state_schema(target)
        mark = read_watermark(target, spec.id)
        target.commit()
    window = plan_window(spec.source.cursor, run, mark, skip_boundary=spec.target.write == "append")
    directory = landing.batch_dir(spec.id, batch_id)

    with connect(spec.source.conn_id) as source:
        source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        columns = _source_columns(source, spec)
        _check_soft_delete_type(spec, columns)
        hashed = _hashed_columns(spec, columns)
        relation = _relation(spec)
        condition, params = _window_sql(spec, window)
        data_path = directory / "data.parquet"
        rows, data_bytes = _copy_to_parquet(
            source,
            _select(relation, [c for c, _ in columns], condition),
            params,
            columns,
            data_path,
            hashed,
        )
        files = {"data": str(data_path)}
        key_bytes = 0
        if spec.source.deletes == "hard" and spec.source.cursor and not run.is_backfill:
            key_columns = [c for c in columns if c[0] in spec.source.primary_key]
            keys_path = directory / "keys.parquet"
            _, key_bytes = _copy_to_parquet(
                source,
                _select(relation, spec.source.primary_key, None),
                dict(PARAMS),
                key_columns,
                keys_path,
            )
            files["keys"] = str(keys_path)
        new_mark = _next_watermark(source, spec, relation, condition, params, window) if rows else None
        source.rollback()

    seconds = time.monotonic() - started
    watermark_after = new_mark["value"] if new_mark else mark.value
    manifest: dict[str, Any] = {
        "flow_id": spec.id,
        "run_id": run.run_id,
        "batch_id": batch_id,
        "files": files,
        # Hashed columns left the source as text digests: the clear values never landed.
        "columns": [(c, "text" if c in hashed else t) for c, t in columns],
        "rows": rows,
        "bytes": data_bytes + key_bytes,
        "window": window.as_dict(),
        "watermark_before": mark.value,
        "watermark_batch_before": mark.batch_id,
        "watermark_after": watermark_after if window.moves_watermark else mark.value,
        "boundary": _save_boundary(directory, new_mark) if window.moves_watermark else None,
        "seconds": {"extract": seconds},
    }
    with connect(spec.target.conn_id) as target:
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


def _source_columns(conn: psycopg.Connection[Any], spec: FlowSpec) -> Columns:
    source = spec.source
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
    return chosen


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
    names = [c for c, _ in columns if spec.transform.output_name(c) in spec.transform.hash]
    if not names:
        return {}
    key = settings.hash_key()
    if key is None:
        raise FatalError(
            f"flow {spec.id!r} hashes {', '.join(spec.transform.hash)} but SYNCGATE_HASH_KEY is not set: "
            "refusing to land PII with an unkeyed (reversible by dictionary) hash"
        )
    return dict.fromkeys(names, key)


def _relation(spec: FlowSpec) -> sql.Composable:
    from psycopg import sql

    if spec.source.table:
        return TableRef.parse(spec.source.table).sql
    # The query comes from the spec author (a trusted, reviewed file), never from run input.
    return sql.SQL("({}) AS syncgate_source").format(sql.SQL(escape_percent(str(spec.source.query))))


def escape_percent(query: str) -> str:
    """Make a literal query safe to execute with bound parameters (``LIKE 'a%'``, ``x % 2``)."""
    return query.replace("%", "%%")


def _key_expr(primary_key: list[str]) -> sql.Composable:
    from psycopg import sql

    parts = [sql.SQL("{}::text").format(sql.Identifier(c)) for c in primary_key]
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("concat_ws({}, {})").format(sql.Literal(KEY_SEPARATOR), sql.SQL(", ").join(parts))


def _window_sql(spec: FlowSpec, window: Window) -> tuple[sql.Composable | None, dict[str, Any]]:
    from psycopg import sql

    if window.lower is None and window.upper is None:
        return None, dict(PARAMS)
    cursor = sql.Identifier(str(spec.source.cursor))
    params: dict[str, Any] = {**PARAMS, "lower": window.lower, "upper": window.upper}
    if window.upper is not None:
        return sql.SQL("{c} >= %(lower)s AND {c} < %(upper)s").format(c=cursor), params
    if not window.skip_keys:
        return sql.SQL("{c} >= %(lower)s").format(c=cursor), params
    params["skip"] = window.skip_keys
    return (
        sql.SQL("{c} > %(lower)s OR ({c} = %(lower)s AND NOT ({k} = ANY(%(skip)s::text[])))").format(
            c=cursor, k=_key_expr(spec.source.primary_key)
        ),
        params,
    )


def _select(relation: sql.Composable, columns: list[str], condition: sql.Composable | None) -> sql.Composed:
    from psycopg import sql

    query = sql.SQL("SELECT {} FROM {}").format(ident_list(columns), relation)
    if condition is not None:
        query = sql.SQL("{} WHERE {}").format(query, condition)
    return query


def _copy_to_parquet(
    conn: psycopg.Connection[Any],
    query: sql.Composed,
    params: dict[str, Any],
    columns: Columns,
    path: Any,
    hashed: dict[str, bytes] | None = None,
) -> tuple[int, int]:
    from psycopg import sql

    schema = arrow_schema(columns)
    landed = arrow_schema([(c, "text" if c in (hashed or {}) else t) for c, t in columns])
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
    with landing.ParquetSink(path, landed) as sink, conn.cursor() as cur, gc_paused():
        with cur.copy(statement, params) as copy:
            for chunk in _chunks(copy, settings.batch_bytes()):
                table = _parse_csv(chunk, schema)
                for name, key in (hashed or {}).items():
                    table = table.set_column(
                        table.schema.get_field_index(name), name, keyed_hash(table[name], key)
                    )
                sink.write(table)
        size = sink.close()
    return sink.rows, size


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


def _parse_csv(chunk: bytes, schema: pa.Schema) -> pa.Table:
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


def _next_watermark(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    relation: sql.Composable,
    condition: sql.Composable | None,
    params: dict[str, Any],
    window: Window,
) -> dict[str, Any] | None:
    """Newest cursor value in the batch and the keys of every source row carrying it."""
    from psycopg import sql

    if spec.source.cursor is None or not window.moves_watermark:
        return None
    cursor = sql.Identifier(spec.source.cursor)
    query = sql.SQL("SELECT max({c})::text FROM {r}").format(c=cursor, r=relation)
    if condition is not None:
        query = sql.SQL("{} WHERE {}").format(query, condition)
    row = conn.execute(query, params).fetchone()
    value = row[0] if row else None
    if value is None:
        return None
    keys: list[str] = []
    if spec.source.primary_key and spec.target.write == "append":  # only append skips them
        keys = [
            r[0]
            for r in conn.execute(
                sql.SQL("SELECT {k} FROM {r} WHERE {c} = %(value)s").format(
                    k=_key_expr(spec.source.primary_key), r=relation, c=cursor
                ),
                {**PARAMS, "value": value},
            )
        ]
    return {"value": value, "keys": keys}


def _save_boundary(directory: Any, mark: dict[str, Any] | None) -> str | None:
    """Boundary keys can be many (a batch job stamping one timestamp): keep them out of XCom."""
    import json

    if mark is None:
        return None
    path = directory / "boundary.json"
    path.write_text(json.dumps(mark))  # one write: the keys can be many
    return str(path)
