"""The PostgreSQL source with ``capture: wal``: the change log says which rows, the table says what.

A run reads the net change per key from the flow's slot (``cdc.changes``), then, in one
REPEATABLE READ snapshot taken after that read, lands the current rows of the changed keys
through the same typed COPY path cursor flows use (``PostgresSource``): types, TOASTed values
and the Parquet landing behave identically. A changed key that the table no longer holds is a
delete; so is every key the log deleted (with ``deletes: hard``: ``deleted.parquet``).

A row read may be newer than the log position the batch covers; that is safe, since the later
log entries name the same key again and the next run reads it again. It can never be older:
the snapshot is taken after the log was read, and waits until every transaction the batch
covers is visible in it.

The watermark is the log position; the slot is confirmed there only after promote committed
(``promoted``), so a failed or rejected run leaves slot and watermark as they were.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.batch.window import Window, plan_window
from syncgate.connectors.base import ReadRequest, SourceRead
from syncgate.connectors.postgres.cdc import slot as slots
from syncgate.connectors.postgres.cdc.changes import MAX_CHANGES, ChangeSet, Key, read_changes
from syncgate.connectors.postgres.cdc.lsn import to_int
from syncgate.connectors.postgres.cdc.names import publication_name, slot_name
from syncgate.connectors.postgres.copy_out import copy_to_parquet, landed_columns
from syncgate.connectors.postgres.source import PostgresSource, _unselected
from syncgate.connectors.postgres.source_sql import PARAMS, select, source_relation
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef
from syncgate.errors import FatalError, RetriableError, SyncgateError
from syncgate.hashing import hash_keys

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from syncgate.batch.contract import Batch
    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec
    from syncgate.state.watermarks import Watermark

log = logging.getLogger(__name__)

# What the watermarks table names as the "cursor" of a wal flow.
WATERMARK_COLUMN = "wal_lsn"
# How long a run waits for transactions the log showed committed to become visible (a commit
# is in the WAL a moment before other sessions can see it).
VISIBLE_WITHIN_SECONDS = 10.0


class PostgresWalSource(PostgresSource):
    """Reads a table's changes from the flow's logical replication slot."""

    # Row changes one run reads at most: a backlog is taken in several bounded runs.
    max_changes: int = MAX_CHANGES

    def plan_window(self, flow: FlowSpec, run: RunInfo, mark: Watermark) -> Window:
        if run.is_backfill:
            return plan_window(None, run, mark)  # refuses: a log position selects no data interval
        return Window(lower=mark.value)

    def read(self, request: ReadRequest) -> SourceRead:
        flow, mark = request.flow, request.mark
        table = TableRef.parse(str(self.spec.table))
        slot, publication = slot_name(flow.id), publication_name(flow.id)
        with connect(self.spec.conn_id) as cdc:
            cdc.autocommit = True
            confirmed = _confirmed(cdc, flow, slot)
            if mark.value is None:
                # First run: the whole table, then the log from where the slot stands (changes
                # already in the snapshot are applied again, which changes nothing).
                return self._land(flow, table, None, confirmed, ChangeSet())
            start = _promoted_meanwhile(flow, mark.value, confirmed)
            _check_continuity(flow, slot, start, confirmed)
            slots.advance(cdc, slot, start)  # a crash after the last promote left it behind
            changes = read_changes(
                cdc, slot, publication, table, self.spec.primary_key, start, limit=self.max_changes
            )
        log.info(
            "Flow %s: %d row changes in %d transactions from slot %s (%d keys, %d deleted, %d skipped as "
            "already promoted, complete=%s), up to %s",
            flow.id, changes.changes, changes.transactions, slot, len(changes.ops), len(changes.deletes),
            changes.skipped, changes.complete, changes.position,
        )  # fmt: skip
        return self._land(flow, table, changes, changes.position or start, changes)

    def promoted(self, flow: FlowSpec, batch: Batch) -> None:
        """Confirm the slot up to the committed watermark; WAL before it may go.

        A failure only logs: the data and watermark are committed, and the next run confirms
        the slot first (and skips what the watermark already covers).
        """
        if batch.watermark_after is None or not batch.window.moves_watermark:
            return
        from syncgate.state.watermarks import read_watermark

        try:
            # Never past the committed watermark: a batch settled 'superseded' (by a newer batch
            # whose push failed, say) returns here too, and its position was never committed.
            with connect(flow.state_conn_id) as state:
                committed = read_watermark(state, flow.id).value
            if committed is None:
                return
            position = min(batch.watermark_after, committed, key=to_int)
            with connect(self.spec.conn_id) as conn:
                conn.autocommit = True
                slots.advance(conn, slot_name(flow.id), position)
        except (SyncgateError, ValueError, _db_errors()) as exc:
            log.warning(
                "Flow %s: batch %s is promoted but slot %s could not be confirmed at %s (%s); the next run "
                "confirms it", flow.id, batch.batch_id, slot_name(flow.id), batch.watermark_after,
                type(exc).__name__,
            )  # fmt: skip

    def _land(
        self,
        flow: FlowSpec,
        table: TableRef,
        changes: ChangeSet | None,
        position: str | None,
        seen: ChangeSet,
    ) -> SourceRead:
        batch_id = uuid.uuid4().hex
        directory = landing.batch_dir(flow.id, batch_id)
        key = self.spec.primary_key
        with connect(self.spec.conn_id) as source:
            _snapshot_covering(source, seen.xids)
            available = self._available(source)
            columns = self._chosen(flow, available)
            types = dict(columns)
            hashed = hash_keys(
                flow, (c for c, _ in columns if flow.transform.output_name(c) in flow.transform.hash)
            )
            relation = source_relation(flow)
            condition, params = (
                (None, dict(PARAMS)) if changes is None else _keys_in(key, types, changes.upserts)
            )
            data_path = directory / "data.parquet"
            rows, size = copy_to_parquet(
                source, select(relation, [c for c, _ in columns], condition), params, columns, data_path,
                hashed, conn_id=self.spec.conn_id,
            )  # fmt: skip
            files = {"data": str(data_path)}
            key_columns = [(c, types[c]) for c in key]
            if changes is not None and self.spec.deletes == "hard":
                # Landed even when empty: it tells promote that the log reported the deletes.
                gone = changes.deletes + _missing(source, table, key, types, changes.upserts)
                path = directory / "deleted.parquet"
                size += copy_to_parquet(source, _typed_keys(key, types, "d"), _arrays("d", gone, len(key)),
                                        key_columns, path, conn_id=self.spec.conn_id)[1]  # fmt: skip
                files["deleted"] = str(path)
                if changes.truncated:  # the whole key set decides what the TRUNCATE removed
                    path = directory / "keys.parquet"
                    size += copy_to_parquet(source, select(relation, key, None), dict(PARAMS), key_columns,
                                            path, conn_id=self.spec.conn_id)[1]  # fmt: skip
                    files["keys"] = str(path)
            source.rollback()
        return SourceRead(
            batch_id=batch_id,
            files=files,
            columns=landed_columns(columns, hashed),
            rows=rows,
            bytes=size,
            next_watermark={"value": position, "keys": [], "column": WATERMARK_COLUMN} if position else None,
            fields_unselected=_unselected([c for c, _ in available], columns),
        )


def _confirmed(conn: psycopg.Connection[Any], flow: FlowSpec, slot: str) -> str:
    row = conn.execute(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,)
    ).fetchone()
    if row is None or row[0] is None:
        raise FatalError(
            f"flow {flow.id!r} captures changes from replication slot {slot!r}, which does not exist: run "
            f"`python -m syncgate cdc setup {flow.id}` (docs/wal-capture.md)"
        )
    return str(row[0])


def _snapshot_covering(conn: psycopg.Connection[Any], xids: list[int]) -> None:
    """Open a REPEATABLE READ snapshot in which every transaction in ``xids`` is visible."""
    deadline = time.monotonic() + VISIBLE_WITHIN_SECONDS
    while True:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
        assert row is not None
        if not xids or all(_visible(x, str(row[0])) for x in xids):
            return
        conn.rollback()
        if time.monotonic() > deadline:
            raise RetriableError(
                "transactions the change log showed committed did not become visible in time"
            )
        time.sleep(0.01)


def _promoted_meanwhile(flow: FlowSpec, watermark: str, confirmed: str) -> str:
    """The position to read from: the run's watermark, or a later one another run committed.

    An overlapping run of the flow may have promoted (and confirmed the slot) after this run
    read the watermark: when the slot is confirmed past it, that run's committed watermark,
    which the slot never passes, is where this run's read continues. Anything else is for
    ``_check_continuity`` to judge.
    """
    from syncgate.state.watermarks import read_watermark

    try:
        if to_int(confirmed) <= to_int(watermark):
            return watermark
    except ValueError:
        return watermark
    with connect(flow.state_conn_id) as state:
        current = read_watermark(state, flow.id).value
    if current is None or current == watermark:
        return watermark
    log.info("Flow %s: another run promoted up to %s since this run read the watermark %s",
             flow.id, current, watermark)  # fmt: skip
    return current


def _check_continuity(flow: FlowSpec, slot: str, watermark: str, confirmed: str) -> None:
    """Refuse to read when the slot cannot hold every change since the watermark.

    The watermark is an LSN the slot confirmed (``cursor`` flows store a cursor value there); a
    slot confirmed *past* the watermark was re-created or advanced outside syncgate, and the
    changes in between are gone from it: reading on would skip them without a word.
    """
    reset = (
        f"to reload the whole table, delete the flow's watermark (DELETE FROM syncgate.watermarks WHERE "
        f"flow_id = '{flow.id}') in its state database; the next run reads the table in full (docs/wal-capture.md)"
    )
    try:
        position = to_int(watermark)
    except ValueError:
        raise FatalError(
            f"flow {flow.id!r} captures from the log but its watermark {watermark!r} is not a log position "
            f"(was `capture` changed?): {reset}"
        ) from None
    if to_int(confirmed) > position:
        raise FatalError(
            f"replication slot {slot!r} is confirmed at {confirmed}, past flow {flow.id!r}'s watermark "
            f"{watermark}: the slot was re-created or advanced outside syncgate, and changes in between "
            f"may be missing from it. {reset}"
        )


def _visible(xid: int, snapshot: str) -> bool:
    """Is the 32-bit ``xid`` (as the log gives it) visible in ``snapshot`` (``xmin:xmax:xip,...``)?

    The 64-bit xid is the one nearest ``xmax`` with those low 32 bits. At or past ``xmax`` it had
    not committed when the snapshot was taken (a commit already in the WAL, not yet visible).
    """
    xmin_text, xmax_text, xip_text = snapshot.split(":")
    xmax = int(xmax_text)
    full = (xmax & ~0xFFFFFFFF) | xid
    if full - xmax > 1 << 31:
        full -= 1 << 32
    elif xmax - full > 1 << 31:
        full += 1 << 32
    if full >= xmax:
        return False
    if full < int(xmin_text):
        return True
    return str(full) not in set(xip_text.split(",")) if xip_text else True


def _arrays(prefix: str, keys: list[Key], width: int) -> dict[str, Any]:
    return {**PARAMS, **{f"{prefix}{i}": [k[i] for k in keys] for i in range(width)}}


def _unnest(key: list[str], prefix: str) -> sql.Composable:
    from psycopg import sql

    return sql.SQL("unnest({}) AS u({})").format(
        sql.SQL(", ").join(
            sql.SQL("%({})s::text[]").format(sql.SQL(f"{prefix}{i}")) for i in range(len(key))
        ),
        sql.SQL(", ").join(sql.Identifier(f"{prefix}{i}") for i in range(len(key))),
    )


def _cast(prefix: str, index: int, pg_type: str) -> sql.Composable:
    from psycopg import sql

    # The type comes from the source's catalog (format_type), never from run input.
    return sql.SQL("CAST(u.{} AS {})").format(sql.Identifier(f"{prefix}{index}"), sql.SQL(pg_type))


def _keys_in(key: list[str], types: dict[str, str], keys: list[Key]) -> tuple[sql.Composable, dict[str, Any]]:
    """``(k1, k2) IN (the changed keys, typed)``: the key index finds them."""
    from psycopg import sql

    casts = sql.SQL(", ").join(_cast("k", i, types[c]) for i, c in enumerate(key))
    condition = sql.SQL("({}) IN (SELECT {} FROM {})").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in key), casts, _unnest(key, "k")
    )
    return condition, _arrays("k", keys, len(key))


def _typed_keys(key: list[str], types: dict[str, str], prefix: str) -> sql.Composed:
    from psycopg import sql

    return sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(_cast(prefix, i, types[c]), sql.Identifier(c))
            for i, c in enumerate(key)
        ),
        _unnest(key, prefix),
    )


def _missing(
    conn: psycopg.Connection[Any], table: TableRef, key: list[str], types: dict[str, str], keys: list[Key]
) -> list[Key]:
    """The changed keys the table no longer holds (deleted after the batch's last log entry)."""
    if not keys:
        return []
    from psycopg import sql

    match = sql.SQL(" AND ").join(
        sql.SQL("t.{} = {}").format(sql.Identifier(c), _cast("m", i, types[c])) for i, c in enumerate(key)
    )
    query = sql.SQL("SELECT {} FROM {} WHERE NOT EXISTS (SELECT 1 FROM {} AS t WHERE {})").format(
        sql.SQL(", ").join(sql.SQL("u.{}").format(sql.Identifier(f"m{i}")) for i in range(len(key))),
        _unnest(key, "m"),
        table.sql,
        match,
    )
    return [tuple(r) for r in conn.execute(query, _arrays("m", keys, len(key)))]


def _db_errors() -> type[Exception]:
    import psycopg

    return psycopg.Error
