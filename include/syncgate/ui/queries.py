"""Read the ``syncgate`` state tables for the UI: few set-based queries, read-only sessions.

Flows are grouped by their state connection; each database is read over one connection with
one query for every flow's latest run, last success, freshness and lag trend (index-backed
``LATERAL ... LIMIT`` lookups, so the cost grows with the number of flows, not of audit rows)
and one for the open incidents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncgate.conflicts.log import count_conflicts, list_conflicts
from syncgate.errors import RetriableError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

TREND_RUNS = 20

# A sync flow's reconcile records {"total", "parked", "by_field_rule"}; older rows may hold
# counts per rule ({"rule": count}), a bare number or a list.
_CONFLICTS = """CASE jsonb_typeof({col})
    WHEN 'number' THEN ({col} #>> '{{}}')::numeric
    WHEN 'array' THEN jsonb_array_length({col})
    WHEN 'object' THEN CASE WHEN jsonb_typeof({col} -> 'total') = 'number' THEN ({col} ->> 'total')::numeric
                       ELSE (SELECT coalesce(sum((v #>> '{{}}')::numeric), 0)
                             FROM jsonb_each({col}) AS e(k, v) WHERE jsonb_typeof(v) = 'number') END
    ELSE 0 END::bigint"""

# Rows written to the target; NULL (not 0) for a run that never got as far as writing.
_ROWS_MOVED = (
    "CASE WHEN num_nonnulls(r.rows_inserted, r.rows_updated, r.rows_deleted, r.rows_pushed) > 0 THEN"
    " coalesce(r.rows_inserted, 0) + coalesce(r.rows_updated, 0) + coalesce(r.rows_deleted, 0)"
    " + coalesce(r.rows_pushed, 0) END"
)

# Two different "no"s, named apart on every page: records refused one by one (at extract: could
# not be coerced; at push: the API said no; both listed in syncgate.rejected_records), and the
# batch a quality gate held back whole (status 'rejected': its rows went nowhere).
_ROWS_REFUSED = (
    "CASE WHEN num_nonnulls(r.rows_rejected, r.rows_push_failed) > 0 THEN"
    " coalesce(r.rows_rejected, 0) + coalesce(r.rows_push_failed, 0) END"
)
_ROWS_HELD = "CASE WHEN r.status = 'rejected' THEN r.rows_extracted END"

_SCHEMA_READY = """SELECT to_regclass('syncgate.sync_runs') IS NOT NULL
    AND to_regclass('syncgate.freshness') IS NOT NULL
    AND to_regclass('syncgate.incidents') IS NOT NULL
    AND to_regclass('syncgate.rejected_records') IS NOT NULL"""

_HEALTH = f"""
SELECT f.flow_id,
       l.run_id, l.status, l.started_at, l.finished_at, l.rows_extracted, l.rows_moved,
       l.lag_seconds, l.freshness_status AS run_freshness, l.conflicts,
       s.finished_at AS last_success,
       fr.status AS freshness, fr.checked_at AS freshness_checked_at, fr.lag_seconds AS freshness_lag,
       t.lags
FROM unnest(%(flows)s::text[]) AS f(flow_id)
LEFT JOIN LATERAL (
    SELECT r.run_id, r.status, r.started_at, r.finished_at, r.rows_extracted,
           {_ROWS_MOVED} AS rows_moved, r.lag_seconds, r.freshness_status,
           {_CONFLICTS.format(col="r.conflicts")} AS conflicts
    FROM syncgate.sync_runs r WHERE r.flow_id = f.flow_id
    ORDER BY r.started_at DESC LIMIT 1
) l ON true
LEFT JOIN LATERAL (
    SELECT r.finished_at FROM syncgate.sync_runs r
    WHERE r.flow_id = f.flow_id AND r.status = 'success' AND r.finished_at IS NOT NULL
    ORDER BY r.finished_at DESC LIMIT 1
) s ON true
LEFT JOIN LATERAL (
    SELECT c.status, c.checked_at, c.lag_seconds FROM syncgate.freshness c
    WHERE c.flow_id = f.flow_id ORDER BY c.checked_at DESC LIMIT 1
) fr ON true
LEFT JOIN LATERAL (
    SELECT array_agg(x.lag_seconds ORDER BY x.started_at) AS lags FROM (
        SELECT r.lag_seconds, r.started_at FROM syncgate.sync_runs r
        WHERE r.flow_id = f.flow_id ORDER BY r.started_at DESC LIMIT %(trend)s
    ) x
) t ON true
"""

_INCIDENTS = """
SELECT flow_id, id, kind, severity, summary, opened_at FROM syncgate.incidents
WHERE status = 'open' AND flow_id = ANY(%(flows)s::text[]) ORDER BY flow_id, opened_at
"""

_RUNS = f"""
SELECT r.run_id, r.run_type, r.status, r.started_at, r.finished_at, r.window_from, r.window_to,
       r.rows_extracted, r.rows_inserted, r.rows_updated, r.rows_deleted,
       {_ROWS_REFUSED} AS rows_refused, {_ROWS_HELD} AS rows_held, {_ROWS_MOVED} AS rows_moved,
       r.quality_verdict, r.quality_report, r.lag_seconds, r.freshness_status,
       {_CONFLICTS.format(col="r.conflicts")} AS conflicts, r.error
FROM syncgate.sync_runs r WHERE r.flow_id = %(flow)s
ORDER BY r.started_at DESC, r.run_id LIMIT %(limit)s OFFSET %(offset)s
"""

_REJECTED = """
SELECT id, run_id, stage, record_key, reason, record, created_at
FROM syncgate.rejected_records WHERE flow_id = %(flow)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
"""


class StateUnavailable(RetriableError):
    """A state database cannot be read (unreachable, or refused the query); a later page load may."""


@dataclass(frozen=True)
class Page:
    """One page of rows and the total count."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@contextmanager
def read_only(conn_id: str) -> Iterator[psycopg.Connection[Any] | None]:
    """A read-only session on ``conn_id``; None when the ``syncgate`` schema is not there yet.

    Raises:
        StateUnavailable: the database cannot be reached or read.
    """
    import psycopg

    from syncgate.db.connect import connect

    try:
        conn = connect(conn_id)
    except RetriableError as exc:
        log.warning("syncgate UI: %s", exc)  # names host and database, never the password
        raise StateUnavailable(f"state database {conn_id!r} is unreachable") from None
    except Exception as exc:  # an unknown conn id, a bad connection extra, ...
        log.warning("syncgate UI: cannot open %r: %s", conn_id, type(exc).__name__)
        raise StateUnavailable(f"state connection {conn_id!r} cannot be opened") from None
    try:
        # The UI never writes: PostgreSQL refuses any write in this session, whatever the code does.
        conn.read_only = True
        with conn:
            row = conn.execute(_SCHEMA_READY).fetchone()
            yield conn if row and row[0] else None
    except psycopg.Error as exc:
        log.warning("syncgate UI: reading state from %r failed: %s", conn_id, type(exc).__name__)
        raise StateUnavailable(f"state database {conn_id!r} could not be read") from None
    finally:
        conn.close()


def health_rows(conn: psycopg.Connection[Any], flow_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each flow's latest run, last success, latest freshness check and lag trend."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_HEALTH, {"flows": flow_ids, "trend": TREND_RUNS}).fetchall()
    return {row["flow_id"]: row for row in rows}


def open_incidents(conn: psycopg.Connection[Any], flow_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Open incidents by flow, oldest first."""
    from psycopg.rows import dict_row

    found: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(_INCIDENTS, {"flows": flow_ids}):
            found.setdefault(row.pop("flow_id"), []).append(row)
    return found


def run_history(conn: psycopg.Connection[Any], flow_id: str, page: int, per_page: int) -> Page:
    """One page of the flow's audit rows, newest first."""
    return _page(conn, _RUNS, "syncgate.sync_runs", flow_id, page, per_page)


def rejected_records(conn: psycopg.Connection[Any], flow_id: str, page: int, per_page: int) -> Page:
    """One page of the flow's rejected records, newest first."""
    return _page(conn, _REJECTED, "syncgate.rejected_records", flow_id, page, per_page)


def _page(
    conn: psycopg.Connection[Any], query: str, table: str, flow_id: str, page: int, per_page: int
) -> Page:
    from psycopg import sql
    from psycopg.rows import dict_row

    page = max(1, page)
    params = {"flow": flow_id, "limit": per_page, "offset": (page - 1) * per_page}
    schema, name = table.split(".")
    counted = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE flow_id = %s").format(sql.Identifier(schema, name)),
        (flow_id,),
    ).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    return Page(rows, int(counted[0]) if counted else 0, page, per_page)


def has_conflict_log(conn: psycopg.Connection[Any]) -> bool:
    """Whether the state database holds a conflict log (a sync flow ran there)."""
    row = conn.execute("SELECT to_regclass('syncgate.sync_conflicts') IS NOT NULL").fetchone()
    return bool(row and row[0])


def latest_conflicts(conn: psycopg.Connection[Any], flow_id: str) -> tuple[str | None, Any]:
    """The newest run's id and its audit ``conflicts`` counts; (None, None) before any run."""
    row = conn.execute(
        "SELECT run_id, conflicts FROM syncgate.sync_runs WHERE flow_id = %s ORDER BY started_at DESC, run_id LIMIT 1",
        (flow_id,),
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def conflict_log(conn: psycopg.Connection[Any], flow_id: str, page: int, per_page: int) -> Page:
    """One page of the flow's conflicts, every status, newest first."""
    page = max(1, page)
    rows = list_conflicts(conn, [flow_id], status="all", limit=per_page, offset=(page - 1) * per_page)
    return Page(rows, count_conflicts(conn, flow_id), page, per_page)


def parked_conflicts(conn: psycopg.Connection[Any], flow_id: str, limit: int) -> Page:
    """The flow's parked conflicts (at most ``limit``, newest first) and how many there are."""
    rows = list_conflicts(conn, [flow_id], status="parked", limit=limit)
    return Page(rows, count_conflicts(conn, flow_id, status="parked"), 1, limit)
