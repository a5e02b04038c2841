"""The change set of a batch: staged rows compared with the mirror of what the API accepted.

creates = live staged rows whose key the mirror lacks; updates = live staged rows whose record
hash differs from the mirror's; deletes = soft-deleted staged rows, or (``deletes: hard``)
mirror keys missing from the source's key set, or the keys a change log (``capture: wal``)
deleted. Unchanged rows are not planned at all.
The plan is stored once per batch with each change's idempotency key, so a retried push
re-sends exactly the same requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.batch.contract import Batch
from syncgate.batch.run import RunInfo
from syncgate.batch.staging import deleted_of, keys_of
from syncgate.connectors.http.push import records
from syncgate.connectors.http.push.idempotency import key_sql
from syncgate.connectors.http.push.mirror import apply_confirmed
from syncgate.connectors.http.spec import http_target
from syncgate.db.identifiers import TableRef
from syncgate.db.sql import key_match
from syncgate.errors import FatalError
from syncgate.spec.model import FlowSpec
from syncgate.staging.merge_sql import live_rows

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

OPS = ("create", "update", "delete")


def plan_changes(
    conn: psycopg.Connection[Any],
    spec: FlowSpec,
    run: RunInfo,
    batch: Batch,
    mirror: TableRef,
) -> dict[str, int]:
    """Store the batch's change set in ``syncgate.push_changes`` (caller's transaction)."""
    from psycopg import sql

    batch_id = batch.batch_id
    staging = TableRef.parse(str(batch.staging_table))
    columns = batch.columns
    # Its number fences older batches from here on: its changes may reach the API from now.
    conn.execute(
        "INSERT INTO syncgate.push_batches (flow_id, batch_id, run_id, sequence, backfill) "
        "VALUES (%s, %s, %s, %s, %s)",
        (spec.id, batch_id, run.run_id, batch.sequence, run.is_backfill),
    )
    parts = [_creates(spec, staging, mirror, columns), _updates(spec, run, staging, mirror, columns)]
    parts += _deletes(spec, run, batch, staging, mirror)
    conn.execute(
        sql.SQL(
            "INSERT INTO syncgate.push_changes (flow_id, batch_id, seq, op, record_key, api_id, body, record, "
            "row_hash, cursor_value, idempotency_key, status) "
            "SELECT {flow}, {batch}, row_number() OVER (ORDER BY c.ord, c.k::text), c.op, c.k, c.api_id, c.body, "
            "c.rec, c.hash, c.cur, {idem}, "
            # A PATCH that would change nothing (the sent fields changed, not their values) is only
            # recorded: the mirror takes the new record without a request.
            "CASE WHEN c.op = 'update' AND c.body = '{{}}'::jsonb THEN 'done' ELSE 'pending' END "
            "FROM ({changes}) AS c"
        ).format(
            flow=sql.Literal(spec.id),
            batch=sql.Literal(batch_id),
            idem=key_sql(spec.id, batch_id, "c.k", "c.op", "c.body"),
            changes=sql.SQL(" UNION ALL ").join(parts),
        )
    )
    silent = [
        int(seq)
        for (seq,) in conn.execute(
            "SELECT seq FROM syncgate.push_changes WHERE flow_id = %s AND batch_id = %s AND status = 'done'",
            (spec.id, batch_id),
        ).fetchall()
    ]
    apply_confirmed(conn, spec, batch_id, silent)
    planned = dict.fromkeys(OPS, 0)
    for op, count in conn.execute(
        "SELECT op, count(*) FROM syncgate.push_changes WHERE flow_id = %s AND batch_id = %s AND status = 'pending' "
        "GROUP BY op",
        (spec.id, batch_id),
    ).fetchall():
        planned[str(op)] = int(count)
    return planned


def _key_object(spec: FlowSpec, alias: str) -> sql.Composable:
    from psycopg import sql

    return sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(
            sql.SQL("{}, to_jsonb({}.{})").format(sql.Literal(c), sql.Identifier(alias), sql.Identifier(c))
            for c in spec.target_primary_key
        )
    )


def _cursor_object(spec: FlowSpec, alias: str) -> sql.Composable:
    from psycopg import sql

    cursor = spec.target_cursor
    if cursor is None or cursor in spec.target_primary_key:
        return sql.SQL("NULL::jsonb")
    return sql.SQL("jsonb_build_object({}, to_jsonb({}.{}))").format(
        sql.Literal(cursor), sql.Identifier(alias), sql.Identifier(cursor)
    )


def _record(spec: FlowSpec, columns: list[tuple[str, str]]) -> sql.Composable:
    """``LATERAL`` subquery giving the staged row's record ``rec`` and its ``hash``."""
    from psycopg import sql

    rec = records.object_sql(records.payload_columns(spec, columns), "s")
    return sql.SQL(
        "CROSS JOIN LATERAL (SELECT r.rec, {h} AS hash FROM (SELECT {rec} AS rec) AS r) AS x"
    ).format(rec=rec, h=records.digest_sql(sql.SQL("r.rec")))


def _without_id(spec: FlowSpec) -> sql.Composable:
    """The whole record minus its id, for PUT ``{endpoint}/{id}``: the id is in the path."""
    from psycopg import sql

    return sql.SQL("(x.rec - {})").format(sql.Literal(spec.target_id_field))


def _creates(
    spec: FlowSpec, staging: TableRef, mirror: TableRef, columns: list[tuple[str, str]]
) -> sql.Composable:
    from psycopg import sql

    put = http_target(spec).batch is None and http_target(spec).methods.create == "PUT"
    return sql.SQL(
        "SELECT 2 AS ord, 'create'::text AS op, {k} AS k, s.{id}::text AS api_id, {body} AS body, x.rec AS rec, "
        "x.hash AS hash, {cur} AS cur FROM {s} AS s {record} "
        "WHERE ({live}) AND NOT EXISTS (SELECT 1 FROM {m} AS m WHERE {match})"
    ).format(
        k=_key_object(spec, "s"),
        id=sql.Identifier(spec.target_id_field),
        body=_without_id(spec) if put else sql.SQL("x.rec"),
        cur=_cursor_object(spec, "s"),
        s=staging.sql,
        record=_record(spec, columns),
        live=live_rows(spec, "s"),
        m=mirror.sql,
        match=key_match(spec.target_primary_key, "m", "s"),
    )


def _updates(
    spec: FlowSpec, run: RunInfo, staging: TableRef, mirror: TableRef, columns: list[tuple[str, str]]
) -> sql.Composable:
    from psycopg import sql

    if http_target(spec).batch is None and http_target(spec).methods.update == "PUT":
        body: sql.Composable = _without_id(spec)
    else:
        # PATCH (and batch updates) send only the fields whose value differs from what the API holds.
        body = sql.SQL(
            "(SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) FROM jsonb_each(x.rec) AS e "
            "WHERE m._sg_record -> e.key IS DISTINCT FROM e.value)"
        )
    guard: sql.Composable = sql.SQL("")
    if run.is_backfill and spec.target_cursor:  # never overwrite a newer version with a backfill's
        guard = sql.SQL(" AND (m.{0} IS NULL OR s.{0} >= m.{0})").format(sql.Identifier(spec.target_cursor))
    return sql.SQL(
        "SELECT 1 AS ord, 'update'::text AS op, {k} AS k, m._sg_api_id AS api_id, {body} AS body, x.rec AS rec, "
        "x.hash AS hash, {cur} AS cur FROM {s} AS s JOIN {m} AS m ON {match} {record} "
        "WHERE ({live}) AND m._sg_row_hash <> x.hash{guard}"
    ).format(
        k=_key_object(spec, "s"),
        body=body,
        cur=_cursor_object(spec, "s"),
        s=staging.sql,
        m=mirror.sql,
        match=key_match(spec.target_primary_key, "m", "s"),
        record=_record(spec, columns),
        live=live_rows(spec, "s"),
        guard=guard,
    )


def _deletes(
    spec: FlowSpec, run: RunInfo, batch: Batch, staging: TableRef, mirror: TableRef
) -> list[sql.Composable]:
    from psycopg import sql

    select = (
        "SELECT 0 AS ord, 'delete'::text AS op, {k} AS k, m._sg_api_id AS api_id, NULL::jsonb AS body, "
        "NULL::jsonb AS rec, NULL::text AS hash, NULL::jsonb AS cur "
    )
    key = spec.target_primary_key
    if spec.source.deletes == "soft":
        guard: sql.Composable = sql.SQL("")
        if run.is_backfill and spec.target_cursor:  # never delete a record a newer run brought back
            guard = sql.SQL(" AND (m.{0} IS NULL OR s.{0} >= m.{0})").format(
                sql.Identifier(spec.target_cursor)
            )
        return [
            sql.SQL(select + "FROM {m} AS m JOIN {s} AS s ON {match} WHERE NOT ({live}){guard}").format(
                k=_key_object(spec, "m"),
                m=mirror.sql,
                s=staging.sql,
                match=key_match(key, "m", "s"),
                live=live_rows(spec, "s"),
                guard=guard,
            )
        ]
    if spec.source.deletes != "hard" or run.is_backfill:
        return []
    parts: list[sql.Composable] = []
    if batch.has_deletions:  # the keys the source's change log deleted (capture: wal)
        parts.append(
            # The log folds a batch's changes per key: a key deleted and inserted again is
            # staged live only (an update), never also among the deleted.
            sql.SQL(select + "FROM {m} AS m WHERE EXISTS (SELECT 1 FROM {d} AS d WHERE {match})").format(
                k=_key_object(spec, "m"),
                m=mirror.sql,
                d=deleted_of(staging).sql,
                match=key_match(key, "m", "d"),
            )
        )
        if not batch.has_key_set:  # the log is the whole delete plan: nothing was scanned
            return parts
    # The source's whole key set: the keys table when incremental, else the full batch itself.
    if not batch.has_key_set and batch.window.lower is not None:
        # An incremental batch without one would delete every record outside its window.
        raise FatalError(
            f"batch {batch.batch_id} of flow {spec.id!r} carries no source key set for its hard deletes"
        )
    keys = keys_of(staging) if batch.has_key_set else staging
    once: sql.Composable = sql.SQL("")
    if parts:  # a TRUNCATE landed both: a key the log deleted is planned once, above
        once = sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {d} AS d WHERE {match})").format(
            d=deleted_of(staging).sql, match=key_match(key, "m", "d")
        )
    return [
        *parts,
        sql.SQL(
            select + "FROM {m} AS m WHERE NOT EXISTS (SELECT 1 FROM {ks} AS ks WHERE {match}){once}"
        ).format(
            k=_key_object(spec, "m"), m=mirror.sql, ks=keys.sql, match=key_match(key, "m", "ks"), once=once
        ),
    ]
