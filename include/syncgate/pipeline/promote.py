"""Promote: move the verified staging batch into the target in ONE transaction.

(HTTP targets push their changes instead: see ``syncgate.pipeline.push.pusher``.)

The transaction writes the rows, applies deletes, advances the watermark and closes the audit
row, so either all of it happened or none did. A retried promote of a batch that already
committed finds it recorded and does nothing.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from syncgate import landing
from syncgate.db.catalog import Columns, relation_exists, table_columns, upsert_blocker
from syncgate.db.connect import connect
from syncgate.db.identifiers import TableRef, ident_list
from syncgate.errors import ConcurrentRunError, FatalError
from syncgate.observe import freshness
from syncgate.pipeline.load import keys_table
from syncgate.pipeline.merge_sql import (
    compose,
    key_match,
    live_rows,
    newer_only,
    qualified,
    update_if_changed,
)
from syncgate.pipeline.run import RunInfo
from syncgate.pipeline.startup import import_libraries
from syncgate.quality import verdicts
from syncgate.report.write import write_report_safely
from syncgate.spec.model import FlowSpec, HttpTarget
from syncgate.state import audit
from syncgate.state.watermarks import Watermark, lock_watermark, write_watermark

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

log = logging.getLogger(__name__)

# A merge of fewer staged rows than this goes through one ``INSERT ... ON CONFLICT`` where that
# cannot act differently (``upsert_blocker``): one key probe per row instead of two joins (the 1% bench
# incremental: 20,000 rows into 2M, ~25-35% less server time). Bigger batches keep the joins,
# which the planner can run as hash joins instead of one index probe per staged row.
UPSERT_BELOW_ROWS = 100_000


def promote(spec: FlowSpec, run: RunInfo, manifest: dict[str, Any] | None) -> dict[str, Any]:
    """Apply the staged batch to the target; returns the counts written."""
    if manifest is None:  # verify produced no result (marked success by hand, or cleared)
        return verdicts.without_manifest(spec.state_conn_id, spec.id, run.run_id)
    if isinstance(spec.target, HttpTarget):
        from syncgate.pipeline.push.pusher import push

        startup = import_libraries("promote", http=True)
        counts = dict(push(spec, run, manifest))
        timings = {**manifest["seconds"], "promote_startup": startup}
        write_report_safely(spec, run.run_id, manifest={**manifest, "seconds": timings})
        return counts
    startup = import_libraries("promote")
    started = time.monotonic()
    staging = TableRef.parse(manifest["staging_table"])
    target = TableRef.parse(spec.target.table)
    columns = [tuple(c) for c in manifest["columns"]]
    with connect(spec.state_conn_id) as conn:
        with conn.transaction():
            mark = lock_watermark(conn, spec.id)
            done = audit.read_run(conn, spec.id, run.run_id)
            if done and done["status"] == "success" and done["batch_id"] == manifest["batch_id"]:
                log.info(
                    "Batch %s of flow %s was already promoted: nothing to do", manifest["batch_id"], spec.id
                )
                return _counts(done)
            verdicts.require_passing(conn, spec.id, manifest["batch_id"], verdicts.staged_tables(manifest))
            before = (manifest["watermark_before"], manifest["watermark_batch_before"])
            if manifest["window"]["moves_watermark"] and (mark.value, mark.batch_id) != before:
                raise ConcurrentRunError(
                    f"the watermark of flow {spec.id!r} moved from {manifest['watermark_before']!r} to "
                    f"{mark.value!r} since this batch was extracted; rerun the flow"
                )
            existed = relation_exists(conn, target)
            if existed:
                if manifest.get("add_columns"):
                    _add_new_columns(conn, target, columns)
                target_columns = _check_target_columns(conn, target, columns)
                counts = _write(conn, spec, run, staging, target, columns, target_columns, manifest)
            elif manifest["window"]["from"] is not None:
                # Adopting a partial (incremental or backfill) batch would silently shrink the target.
                raise FatalError(
                    f"target {target} is missing but flow {spec.id!r} has a watermark: to reload it in "
                    f"full, reset the flow (DELETE FROM syncgate.watermarks WHERE flow_id = '{spec.id}') "
                    "and run it again"
                )
            else:
                counts = _adopt_staging(conn, spec, staging, target, int(manifest["staged_rows"]))
            if manifest["window"]["moves_watermark"] and manifest.get("boundary"):
                boundary = landing.read_json(manifest["boundary"])
                write_watermark(
                    conn, spec.id, str(spec.source.cursor),
                    Watermark(boundary["value"], boundary["keys"]), manifest["batch_id"],
                )  # fmt: skip
            # After a first load or a replace the target is exactly the batch.
            batch_is_target = spec.target.write == "replace" or not existed
            fresh = freshness.after_promote(
                conn, spec, run.run_id, target if batch_is_target else staging, columns,
                batch_is_target=batch_is_target, where_live=live_rows(spec, "b"),
            )  # fmt: skip
            seconds = time.monotonic() - started
            audit.update_run(
                conn, spec.id, run.run_id, status="success", promote_seconds=seconds,
                watermark_after=manifest["watermark_after"], staging_table=None, error=None, **counts,
                **(fresh.audit_values() if fresh else {}),
            )  # fmt: skip
            for table in (staging, keys_table(run)):
                conn.execute(compose("DROP TABLE IF EXISTS {}", table.sql))
    landing.forget_batch(spec.id, manifest["batch_id"])
    log.info("Promoted batch %s into %s: %s in %.2fs", manifest["batch_id"], target, counts, seconds)
    write_report_safely(
        spec,
        run.run_id,
        manifest={
            **manifest,
            "seconds": {**manifest["seconds"], "promote": seconds, "promote_startup": startup},
        },
    )
    return counts


def _adopt_staging(
    conn: psycopg.Connection[Any], spec: FlowSpec, staging: TableRef, target: TableRef, staged_rows: int
) -> dict[str, int]:
    """First load: the verified staging table becomes the target, so no row is copied twice."""
    from psycopg import sql

    removed = conn.execute(
        compose("DELETE FROM {s} AS s WHERE NOT {live}", s=staging.sql, live=live_rows(spec, "s"))
    ).rowcount
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.schema)))
    conn.execute(compose("ALTER TABLE {} SET LOGGED", staging.sql))
    conn.execute(compose("ALTER TABLE {} SET SCHEMA {}", staging.sql, sql.Identifier(target.schema)))
    moved = TableRef(target.schema, staging.name)
    conn.execute(compose("ALTER TABLE {} RENAME TO {}", moved.sql, sql.Identifier(target.name)))
    if spec.target_primary_key:
        conn.execute(
            compose("ALTER TABLE {} ADD PRIMARY KEY ({})", target.sql, ident_list(spec.target_primary_key))
        )
    log.info(
        "Created target table %s from the verified batch (%d soft-deleted rows left out)", target, removed
    )
    return {"rows_inserted": staged_rows - removed, "rows_updated": 0, "rows_deleted": 0}


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
    manifest: dict[str, Any],
) -> dict[str, int]:
    counts = {"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0}
    live = live_rows(spec, "s")
    columns = [c for c, _ in typed_columns]
    cols = ident_list(columns)
    write = spec.target.write
    if write == "replace":
        counts["rows_deleted"] = conn.execute(compose("DELETE FROM {}", target.sql)).rowcount
    if write in ("replace", "append") or _is_empty(conn, target):
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
        if int(manifest["staged_rows"]) < UPSERT_BELOW_ROWS:
            blocker = upsert_blocker(conn, target, spec.target_primary_key, typed_columns, target_columns)
            if blocker is None:
                merge = _upsert
            else:
                log.info("Merging into %s with UPDATE + INSERT rather than an upsert: %s", target, blocker)
        counts["rows_updated"], counts["rows_inserted"] = merge(
            conn, spec, staging, target, typed_columns, target_columns, live, newer_cursor
        )
    if write != "replace":
        counts["rows_deleted"] += _apply_deletes(conn, spec, run, staging, target, manifest)
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
    manifest: dict[str, Any],
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
    # The full key set of the source: the keys file when incremental, else the batch itself.
    keys = keys_table(run) if "keys" in manifest["files"] else staging
    return conn.execute(
        compose(
            "DELETE FROM {t} AS t WHERE NOT EXISTS (SELECT 1 FROM {k} AS s WHERE {match})",
            t=target.sql, k=keys.sql, match=key_match(key, "t", "s"),
        )
    ).rowcount  # fmt: skip


def _is_empty(conn: psycopg.Connection[Any], table: TableRef) -> bool:
    row = conn.execute(compose("SELECT NOT EXISTS (SELECT 1 FROM {})", table.sql)).fetchone()
    return bool(row and row[0])


def _counts(row: dict[str, Any]) -> dict[str, int]:
    return {k: int(row.get(k) or 0) for k in ("rows_inserted", "rows_updated", "rows_deleted")}
