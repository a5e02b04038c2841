"""The PostgreSQL target: the verified staged batch enters the target table in ONE transaction.

The transaction writes the rows, applies deletes, advances the watermark and closes the audit
row, so either all of it happened or none did. A retried promote of a batch that already
committed finds it recorded and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from syncgate.batch.settle import Written, apply_once
from syncgate.batch.staging import deleted_table, keys_table
from syncgate.connectors.base import AssetRef, RecordResult, RecordWrite
from syncgate.connectors.postgres.append import add_version_key, append_versions
from syncgate.connectors.postgres.first_load import will_adopt
from syncgate.connectors.postgres.spec import PostgresTarget as PostgresTargetSpec
from syncgate.db.catalog import Columns, relation_exists, table_columns, upsert_blocker
from syncgate.db.identifiers import TableRef, ident_list
from syncgate.db.sql import compose, key_match, qualified
from syncgate.errors import FatalError
from syncgate.staging.merge_sql import live_rows, newer_only, update_if_changed
from syncgate.state import freshness

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from syncgate.batch.contract import Batch
    from syncgate.batch.run import RunInfo
    from syncgate.spec.model import FlowSpec

log = logging.getLogger(__name__)

# A merge of fewer staged rows than this goes through one ``INSERT ... ON CONFLICT`` where that
# cannot act differently (``upsert_blocker``): one key probe per row instead of two joins (the 1% bench
# incremental: 20,000 rows into 2M, ~25-35% less server time). Bigger batches keep the joins,
# which the planner can run as hash joins instead of one index probe per staged row.
UPSERT_BELOW_ROWS = 100_000


class PostgresTarget:
    """Writes a table of the database behind ``conn_id`` (created from the first batch)."""

    libraries: tuple[str, ...] = ()
    applies_atomically = True  # rows, deletes, watermark and audit row in one transaction

    def __init__(self, spec: PostgresTargetSpec) -> None:
        self.spec = spec

    @property
    def table(self) -> TableRef:
        return TableRef.parse(self.spec.table)

    def asset(self, flow: FlowSpec) -> AssetRef:
        table = self.table
        return AssetRef(
            name=f"{self.spec.conn_id}.{table}",
            uri=f"syncgate://{self.spec.conn_id}/{table.schema}/{table.name}",
        )

    def describe(self, flow: FlowSpec) -> str:
        return (
            f"**Target:** `{self.spec.table}` on connection `{self.spec.conn_id}` "
            f"(`write: {self.spec.write}`). Audit: `syncgate.sync_runs` in the same database."
        )

    def column_types(self, conn: psycopg.Connection[Any], flow: FlowSpec) -> dict[str, str]:
        if not relation_exists(conn, self.table):
            return {}
        return dict(table_columns(conn, self.table))

    def adopts_staging(self, conn: psycopg.Connection[Any], flow: FlowSpec, batch: Batch) -> bool:
        return will_adopt(conn, self.table, batch)

    def freshness_table(self, flow: FlowSpec) -> TableRef | None:
        return self.table

    def apply(self, flow: FlowSpec, run: RunInfo, batch: Batch) -> dict[str, int]:
        return _promote(flow, run, batch, self.table)

    def write_records(
        self, flow: FlowSpec, writes: Sequence[RecordWrite], *, read_until: str | None
    ) -> list[RecordResult]:
        from syncgate.connectors.postgres.side_writer import write_records

        return write_records(flow, writes, read_until=read_until)


def _promote(spec: FlowSpec, run: RunInfo, batch: Batch, target: TableRef) -> dict[str, int]:
    """Apply the staged batch to the target table in the transaction that settles it."""
    staging = TableRef.parse(str(batch.staging_table))
    columns = batch.columns

    def write(conn: psycopg.Connection[Any]) -> Written:
        existed = relation_exists(conn, target)
        if existed:
            if batch.adds_columns:
                _add_new_columns(conn, target, columns)
            target_columns = _check_target_columns(conn, target, columns)
            counts = _write(conn, spec, run, staging, target, columns, target_columns, batch)
        elif batch.window.lower is not None:
            # Adopting a partial (incremental or backfill) batch would silently shrink the target.
            raise FatalError(
                f"target {target} is missing but flow {spec.id!r} has a watermark: to reload it in "
                f"full, reset the flow (DELETE FROM syncgate.watermarks WHERE flow_id = '{spec.id}') "
                "and run it again"
            )
        else:
            counts = _adopt_staging(conn, spec, staging, target, int(batch.staged_rows or 0))
        # After a first load or a replace the target is exactly the batch.
        batch_is_target = spec.target.write == "replace" or not existed
        fresh = freshness.after_promote(
            conn, spec, run.run_id, target if batch_is_target else staging, columns,
            batch_is_target=batch_is_target, where_live=live_rows(spec, "b"), target=target,
        )  # fmt: skip
        return Written(counts, fresh.audit_values() if fresh else {})

    counts = apply_once(spec, run, batch, write)
    log.info("Promoted batch %s into %s: %s", batch.batch_id, target, counts)
    return counts


def _adopt_staging(
    conn: psycopg.Connection[Any], spec: FlowSpec, staging: TableRef, target: TableRef, staged_rows: int
) -> dict[str, int]:
    """First load: the verified staging table becomes the target, so no row is copied twice."""
    from psycopg import sql

    removed = conn.execute(
        compose("DELETE FROM {s} AS s WHERE NOT {live}", s=staging.sql, live=live_rows(spec, "s"))
    ).rowcount
    _create_schema(conn, target.schema)
    conn.execute(compose("ALTER TABLE {} SET LOGGED", staging.sql))
    conn.execute(compose("ALTER TABLE {} RESET (autovacuum_enabled)", staging.sql))  # a target is vacuumed
    conn.execute(compose("ALTER TABLE {} SET SCHEMA {}", staging.sql, sql.Identifier(target.schema)))
    moved = TableRef(target.schema, staging.name)
    conn.execute(compose("ALTER TABLE {} RENAME TO {}", moved.sql, sql.Identifier(target.name)))
    if spec.target.write == "append":
        add_version_key(conn, spec, target)
    elif spec.target_primary_key:
        conn.execute(
            compose("ALTER TABLE {} ADD PRIMARY KEY ({})", target.sql, ident_list(spec.target_primary_key))
        )
    log.info(
        "Created target table %s from the verified batch (%d soft-deleted rows left out)", target, removed
    )
    return {"rows_inserted": staged_rows - removed, "rows_updated": 0, "rows_deleted": 0}


def _create_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """The target's schema, when the first load into it has to create it.

    Two first loads into one new schema (the first start of several flows) would both pass the
    ``IF NOT EXISTS`` of ``CREATE SCHEMA`` and one would fail on the catalog's unique index:
    creators take turns, and each looks again (a catalog read, fresh after the wait) once it
    holds the turn. Loads into an existing schema take no lock.
    """
    from psycopg import sql

    exists = "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = %s)"
    row = conn.execute(exists, (schema,)).fetchone()
    if row and row[0]:
        return
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncgate.create_target_schema'))")
    row = conn.execute(exists, (schema,)).fetchone()
    if not (row and row[0]):
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def _add_new_columns(conn: psycopg.Connection[Any], target: TableRef, columns: list[tuple[str, str]]) -> None:
    """Schema evolution (HTTP sources, ``schema_drift: evolve``): new source fields become columns."""
    from psycopg import sql

    existing = {name for name, _ in table_columns(conn, target)}
    for name, pg_type in columns:
        if name not in existing:
            # The type is a validated spec type or one inferred from JSON (bigint, text, jsonb...).
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    target.sql, sql.Identifier(name), sql.SQL(pg_type)
                )
            )
            log.info("Added column %s %s to %s (schema evolution)", name, pg_type, target)


def _check_target_columns(
    conn: psycopg.Connection[Any], target: TableRef, columns: list[tuple[str, str]]
) -> Columns:
    """The target's columns; fails when a batch column is missing from it."""
    existing = table_columns(conn, target)
    names = {name for name, _ in existing}
    missing = [name for name, _ in columns if name not in names]
    if missing:
        raise FatalError(
            f"target {target} has no column(s) {', '.join(missing)}: add them, or drop them with "
            "`transform.drop` (nothing was promoted)"
        )
    return existing


def _write(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run: RunInfo,
    staging: TableRef,
    target: TableRef,
    typed_columns: list[tuple[str, str]],
    target_columns: Columns,
    batch: Batch,
) -> dict[str, int]:
    counts = {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}
    live = live_rows(spec, "s")
    columns = [c for c, _ in typed_columns]
    cols = ident_list(columns)
    write = spec.target.write
    if write == "replace":
        counts["rows_deleted"] = conn.execute(compose("DELETE FROM {}", target.sql)).rowcount
    if write == "append":
        counts["rows_inserted"] = append_versions(conn, spec, staging, target, columns, live)
    elif write == "replace" or _is_empty(conn, target):
        counts["rows_inserted"] = conn.execute(
            compose(
                "INSERT INTO {t} ({c}) SELECT {sc} FROM {s} AS s WHERE {live}",
                t=target.sql,
                c=cols,
                sc=qualified(columns, "s"),
                s=staging.sql,
                live=live,
            )  # fmt: skip
        ).rowcount
    else:
        # A backfill may race a live run: never let its older rows overwrite newer ones.
        newer_cursor = spec.target_cursor if run.is_backfill else None
        merge = _merge
        if int(batch.staged_rows or 0) < UPSERT_BELOW_ROWS:
            blocker = upsert_blocker(conn, target, spec.target_primary_key, typed_columns, target_columns)
            if blocker is None:
                merge = _upsert
            else:
                log.info("Merging into %s with UPDATE + INSERT rather than an upsert: %s", target, blocker)
        counts["rows_updated"], counts["rows_inserted"] = merge(
            conn, spec, staging, target, typed_columns, target_columns, live, newer_cursor
        )
    if write != "replace":
        counts["rows_deleted"] += _apply_deletes(conn, spec, run, staging, target, batch)
    return counts


def _merge(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    staging: TableRef,
    target: TableRef,
    typed_columns: list[tuple[str, str]],
    target_columns: Columns,
    live: sql.Composable,
    newer_cursor: str | None = None,
) -> tuple[int, int]:
    """The merge as ``UPDATE ... FROM`` staging, then ``INSERT ... WHERE NOT EXISTS``."""
    key, columns, values, recast = _key_and_values(spec, typed_columns, target_columns)
    match = key_match(key, "t", "s")
    updated = 0
    if values:
        sets, changed = update_if_changed(values, "s", newer_cursor, recast)
        updated = conn.execute(
            compose(
                "UPDATE {t} AS t SET {sets} FROM {s} AS s WHERE {match} AND ({live_s}) AND {changed}",
                t=target.sql, s=staging.sql, sets=sets, match=match, live_s=live, changed=changed,
            )
        ).rowcount  # fmt: skip
    inserted = conn.execute(
        compose(
            "INSERT INTO {t} ({c}) SELECT {sc} FROM {s} AS s WHERE ({live_s}) "
            "AND NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {match})",
            t=target.sql, c=ident_list(columns), sc=qualified(columns, "s"), s=staging.sql,
            live_s=live, match=match,
        )
    ).rowcount  # fmt: skip
    return updated, inserted


def _upsert(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    staging: TableRef,
    target: TableRef,
    typed_columns: list[tuple[str, str]],
    target_columns: Columns,
    live: sql.Composable,
    newer_cursor: str | None = None,
) -> tuple[int, int]:
    """The merge as one ``INSERT ... ON CONFLICT DO UPDATE`` (same result as ``_merge``).

    Staged rows go in key order, so the key probes walk the index and heap in order. A row
    version written by the upsert's insert has ``xmax = 0``; one written by its update carries
    the row lock the update took first, which is how inserts and updates are told apart.
    """
    from psycopg import sql

    key, columns, values, _ = _key_and_values(spec, typed_columns, target_columns)
    action: sql.Composable = sql.SQL("DO NOTHING")
    if values:  # ``excluded`` is the staged row already cast to the target's types
        sets, changed = update_if_changed(values, "excluded", newer_cursor)
        action = compose("DO UPDATE SET {sets} WHERE {changed}", sets=sets, changed=changed)
    row = conn.execute(
        compose(
            "WITH written AS (INSERT INTO {t} AS t ({c}) SELECT {sc} FROM {s} AS s WHERE ({live_s}) "
            "ORDER BY {sk} ON CONFLICT ({k}) {action} RETURNING t.xmax = 0 AS inserted) "
            "SELECT count(*) FILTER (WHERE NOT inserted), count(*) FILTER (WHERE inserted) FROM written",
            t=target.sql, c=ident_list(columns), sc=qualified(columns, "s"), s=staging.sql,
            live_s=live, sk=qualified(key, "s"), k=ident_list(key), action=action,
        )
    ).fetchone()  # fmt: skip
    assert row is not None
    return int(row[0]), int(row[1])


def _key_and_values(
    spec: FlowSpec, typed_columns: list[tuple[str, str]], target_columns: Columns
) -> tuple[list[str], list[str], list[tuple[str, str]], set[str]]:
    """The key, every batch column, the non-key columns a merge may update (with the target's
    types), and those of them the batch types differently."""
    key = spec.target_primary_key
    target_types = dict(target_columns)
    values = [(c, target_types[c]) for c, _ in typed_columns if c not in key]
    recast = {c for c, t in typed_columns if c not in key and t != target_types[c]}
    return key, [c for c, _ in typed_columns], values, recast


def _apply_deletes(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run: RunInfo,
    staging: TableRef,
    target: TableRef,
    batch: Batch,
) -> int:
    from psycopg import sql

    key = spec.target_primary_key
    deletes = spec.source.deletes
    if deletes == "soft":
        guard: sql.Composable = sql.SQL("")
        if run.is_backfill and spec.target_cursor:  # never delete a row a newer run brought back
            guard = newer_only(spec.target_cursor)
        return conn.execute(
            compose(
                "DELETE FROM {t} AS t USING {s} AS s WHERE {match} AND NOT ({live_s}){guard}",
                t=target.sql, s=staging.sql, match=key_match(key, "t", "s"),
                live_s=live_rows(spec, "s"), guard=guard,
            )
        ).rowcount  # fmt: skip
    if deletes != "hard" or run.is_backfill:
        return 0
    removed = 0
    if batch.has_deletions:  # the keys the source's change log deleted
        removed = conn.execute(
            compose(
                "DELETE FROM {t} AS t USING {d} AS d WHERE {match}",
                t=target.sql, d=deleted_table(run).sql, match=key_match(key, "t", "d"),
            )
        ).rowcount  # fmt: skip
    if not batch.has_key_set and batch.has_deletions:
        return removed
    # The full key set of the source: the keys file when incremental, else the batch itself.
    if not batch.has_key_set and batch.window.lower is not None:
        # Only a whole read may stand for the source's key set: an incremental batch without
        # one would delete every target row outside its window.
        raise FatalError(
            f"batch {batch.batch_id} of flow {spec.id!r} carries no source key set for its hard deletes"
        )
    keys = keys_table(run) if batch.has_key_set else staging
    return removed + conn.execute(
        compose(
            "DELETE FROM {t} AS t WHERE NOT EXISTS (SELECT 1 FROM {k} AS s WHERE {match})",
            t=target.sql, k=keys.sql, match=key_match(key, "t", "s"),
        )
    ).rowcount  # fmt: skip


def _is_empty(conn: psycopg.Connection[Any], table: TableRef) -> bool:
    row = conn.execute(compose("SELECT NOT EXISTS (SELECT 1 FROM {})", table.sql)).fetchone()
    return bool(row and row[0])
