"""Measure many flows' targets at once: the newest freshness value of each, in two queries.

One catalog query finds which target tables and columns exist (and their types); one
``UNION ALL`` statement reads ``max(column)`` of every measurable target. ``max`` uses an index
on the column when there is one, else it scans the table: index the freshness column (usually
the cursor) of large targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syncgate.db.identifiers import TableRef
from syncgate.spec.model import FlowSpec

if TYPE_CHECKING:
    import psycopg

# Types whose max() is a point in time (a date counts from its midnight, UTC).
TEMPORAL_TYPES = ("timestamp", "date")


@dataclass(frozen=True)
class Probe:
    """The newest value of a flow's freshness column, or why there is none."""

    flow_id: str
    newest: datetime | None
    problem: str | None = None  # set when the target could not be measured


def is_temporal(pg_type: str | None) -> bool:
    """Whether the newest value of a column of this type is a point in time."""
    return bool(pg_type) and str(pg_type).lower().startswith(TEMPORAL_TYPES)


def target_table(spec: FlowSpec) -> TableRef | None:
    """The table showing what the target holds: the target table, or for an HTTP target the
    mirror of what its API accepted (``syncgate_mirror.<flow_id>``, which keeps the cursor)."""
    from syncgate.state.schema import MIRROR_SCHEMA

    target: Any = spec.target
    if getattr(target, "type", None) == "http":
        return TableRef(MIRROR_SCHEMA, spec.id)
    if getattr(target, "type", None) != "postgres":
        return None
    return TableRef.parse(target.table)


def newest_values(conn: psycopg.Connection[Any], specs: list[FlowSpec]) -> dict[str, Probe]:
    """``max(freshness.column)`` of each flow's target (flows without a freshness SLA are skipped)."""
    from psycopg import sql

    columns = {s.id: s.freshness.column for s in specs if s.freshness}
    probes: dict[str, Probe] = {}
    tables: dict[str, TableRef] = {}
    for spec in specs:
        table = target_table(spec)
        if spec.id not in columns:
            continue
        if table is None:
            probes[spec.id] = _from_audit(conn, spec)
        else:
            tables[spec.id] = table
    if not tables:
        return probes
    ids = sorted(tables)
    rows = conn.execute(
        """
        SELECT f.flow_id, c.oid IS NOT NULL, format_type(a.atttypid, a.atttypmod)
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS f(flow_id, nsp, rel, col)
        LEFT JOIN pg_namespace n ON n.nspname = f.nsp
        LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = f.rel
                             AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = f.col
                                 AND a.attnum > 0 AND NOT a.attisdropped
        """,
        (ids, [tables[i].schema for i in ids], [tables[i].name for i in ids], [columns[i] for i in ids]),
    ).fetchall()
    measurable = []
    for flow_id, has_table, pg_type in rows:
        table, column = tables[flow_id], columns[flow_id]
        if not has_table:
            probes[flow_id] = Probe(flow_id, None, f"target table {table} does not exist")
        elif pg_type is None:
            probes[flow_id] = Probe(flow_id, None, f"target {table} has no column {column}")
        elif not is_temporal(pg_type):
            probes[flow_id] = Probe(flow_id, None, f"column {column} is {pg_type}, not a date or timestamp")
        else:
            measurable.append(flow_id)
    if measurable:
        parts = [
            sql.SQL("SELECT {id}::text, (SELECT max({c}) FROM {t})::timestamptz").format(
                id=sql.Literal(i), c=sql.Identifier(columns[i]), t=tables[i].sql
            )
            for i in measurable
        ]
        for flow_id, newest in conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall():
            probes[flow_id] = Probe(flow_id, newest, None if newest is not None else "the target has no rows")
    return probes


def _from_audit(conn: psycopg.Connection[Any], spec: FlowSpec) -> Probe:
    """A target that is no table (an API): the high-water mark its last promote recorded."""
    row = conn.execute(
        "SELECT high_water_mark::timestamptz FROM syncgate.sync_runs WHERE flow_id = %s "
        "AND status = 'success' AND high_water_mark IS NOT NULL ORDER BY started_at DESC LIMIT 1",
        (spec.id,),
    ).fetchone()
    if row is None:
        return Probe(spec.id, None, "no promoted run recorded a high-water mark")
    return Probe(spec.id, row[0])
