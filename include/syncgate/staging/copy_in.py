"""Copy a landed batch into a staging table: parallel COPY streams, binary where values allow.

Staging tables are UNLOGGED (no WAL for a batch that is merged and dropped) unless promote will
adopt the table as the target (``logged``).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from syncgate import landing, settings
from syncgate.db.connect import connect
from syncgate.errors import RetriableError
from syncgate.runtime.gc_pause import gc_paused
from syncgate.runtime.prefetch import prefetch

if TYPE_CHECKING:
    import psycopg

    from syncgate.db.identifiers import TableRef

# Statistics steer the merge's and the delete detection's join plans on big batches. Below this
# the planner's own estimate (from the table's size) picks the same plans, and ANALYZE would be
# a good part of a small incremental load (~0.1 s of 0.3 s on 20,000 rows).
ANALYZE_FROM_ROWS = 100_000


def copy_into(
    conn: psycopg.Connection[Any],
    conn_id: str,
    table: TableRef,
    columns: list[tuple[str, str]],
    url: str,
    *,
    logged: bool = False,
    exact: frozenset[str] = frozenset(),
) -> int:
    """(Re)create ``table`` and COPY the landed file into it, over parallel streams.

    ``logged``: the table will become the target (``first_load``), so it is WAL-logged now.
    ``exact``: columns landed as PostgreSQL's own text output, which may travel in binary.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from psycopg import sql

    from syncgate.staging import copy_binary

    definitions = sql.SQL(", ").join(
        # Types come from the source catalog or a spec cast validated against a strict pattern.
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type))
        for name, pg_type in columns
    )
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table.sql))
    # No autovacuum on a table that lives for one run: its ANALYZE would hold a lock that the
    # gate's seal and promote's check must wait for (load analyzes big batches itself).
    create = "CREATE TABLE {} ({}) WITH (autovacuum_enabled = false)"
    if not logged:
        create = create.replace("CREATE TABLE", "CREATE UNLOGGED TABLE")
    conn.execute(sql.SQL(create).format(table.sql, definitions))
    conn.commit()  # the other streams' connections must see the table
    groups = landing.row_groups(url)
    binary = copy_binary.plan(columns, exact) if settings.load_format() == "binary" else None
    streams = min(settings.load_streams(), groups)
    stop = threading.Event()  # set on the first failure: the other streams give up too
    with gc_paused():
        if streams <= 1:
            rows = _copy_stream(conn, table, url, range(groups), stop, read_ahead=True, binary=binary)
        else:
            # Each stream is a session of its own, so PostgreSQL parses them on separate cores.
            with ThreadPoolExecutor(streams, thread_name_prefix="syncgate-load") as pool:
                parts = [
                    pool.submit(
                        _copy_on_new_connection, conn_id, table, url, range(i, groups, streams), stop, binary
                    )
                    for i in range(streams)
                ]
                try:
                    rows = sum(part.result() for part in as_completed(parts))
                except BaseException:
                    stop.set()
                    raise
    if rows >= ANALYZE_FROM_ROWS:
        conn.execute(sql.SQL("ANALYZE {}").format(table.sql))
    return rows


def _copy_on_new_connection(
    conn_id: str, table: TableRef, url: str, groups: range, stop: threading.Event, binary: Any
) -> int:
    with connect(conn_id) as conn:
        rows = _copy_stream(conn, table, url, groups, stop, read_ahead=False, binary=binary)
        conn.commit()
    return rows


def _copy_stream(
    conn: psycopg.Connection[Any],
    table: TableRef,
    url: str,
    groups: range,
    stop: threading.Event,
    *,
    read_ahead: bool,
    binary: list[Any] | None = None,
) -> int:
    """COPY the row groups in binary (``copy_binary``) where every value allows, else as CSV.

    Each change of format ends one COPY statement and starts the next, in the same session.
    """
    import pyarrow.csv as pcsv
    from psycopg import sql

    from syncgate.staging import copy_binary

    statements = {
        fmt: sql.SQL("COPY {} FROM STDIN (FORMAT {})").format(table.sql, sql.SQL(fmt))
        for fmt in ("csv", "binary")
    }
    # Quote every non-null value so empty strings stay distinct from NULL (unquoted empty).
    options = pcsv.WriteOptions(include_header=False, quoting_style="all_valid", batch_size=65536)

    def encoded() -> Iterator[tuple[str, int, memoryview]]:
        for batch in landing.read_batches(url, groups):
            data = copy_binary.encode(batch, binary) if binary is not None else None
            if data is not None:
                yield "binary", batch.num_rows, data
                continue
            buffer = io.BytesIO()
            pcsv.write_csv(batch, buffer, options)
            yield "csv", batch.num_rows, buffer.getbuffer()

    rows = 0
    # A single stream encodes the next row group while PostgreSQL parses the previous one;
    # parallel streams already overlap each other, and reading ahead would double their memory.
    chunks = prefetch(encoded(), depth=1) if read_ahead else encoded()
    with conn.cursor() as cur, ExitStack() as open_copy:
        copy: Any = None
        current = None
        for fmt, count, data in chunks:
            if stop.is_set():
                raise RetriableError("load stream stopped: another stream failed")
            if fmt != current:
                if current == "binary":
                    copy.write(copy_binary.TRAILER)
                open_copy.close()
                copy, current = open_copy.enter_context(cur.copy(statements[fmt])), fmt
                if fmt == "binary":
                    copy.write(copy_binary.SIGNATURE)
            copy.write(data)
            rows += count
        if current == "binary":
            copy.write(copy_binary.TRAILER)
    return rows


def describe_copy_error(exc: Exception, types: dict[str, str] | None = None) -> str:
    """What PostgreSQL rejected and where (column and its type, from ``types``), without quoting
    the value (it may be PII)."""
    diag = getattr(exc, "diag", None)
    context = (getattr(diag, "context", None) or "").splitlines()[0:1]
    where = re.search(r"line (\d+), column (\w+)", context[0]) if context else None
    typed = f" of type {types[where.group(2)]}" if where and types and where.group(2) in types else ""
    located = f" (batch line {where.group(1)}, column {where.group(2)!r}{typed})" if where else ""
    state = getattr(diag, "sqlstate", None) or "?"
    kind = type(exc).__name__
    return f"a value could not be loaded into staging{located}: {kind} [SQLSTATE {state}]"
