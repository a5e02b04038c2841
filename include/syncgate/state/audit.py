"""The ``syncgate.sync_runs`` audit trail: one row per flow run, filled in stage by stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

# Columns a stage may set; anything else is a programming error.
_COLUMNS = frozenset(
    {
        "run_type", "batch_id", "status", "window_from", "window_to", "watermark_before",
        "watermark_after", "rows_extracted", "rows_inserted", "rows_updated", "rows_deleted",
        "rows_rejected", "bytes_landed", "extract_seconds", "transform_seconds", "load_seconds",
        "verify_seconds", "promote_seconds", "staging_table", "quality_verdict", "quality_report",
        "failed_expectations", "error", "bytes_wire", "bytes_decoded", "schema_changes",
        "rows_pushed", "rows_push_failed", "high_water_mark", "lag_seconds", "freshness_status",
        "conflicts", "triggered_by", "trigger_events",
    }
)  # fmt: skip
_FINAL = ("success", "rejected", "failed", "superseded")


def start_run(conn: psycopg.Connection[Any], flow_id: str, run_id: str, **values: Any) -> None:
    """(Re)open the run's audit row for a new batch: a rerun replaces the previous attempt."""
    from psycopg import sql

    # Every column the previous attempt set is cleared: nothing of it may pass for this batch's.
    values = {**dict.fromkeys(_COLUMNS), **values, "status": "running"}
    _check(values)
    names = sorted(values)
    conn.execute(
        sql.SQL(
            "INSERT INTO syncgate.sync_runs (flow_id, run_id, {cols}) VALUES (%s, %s, {vals}) "
            "ON CONFLICT (flow_id, run_id) DO UPDATE SET {sets}, started_at = now(), finished_at = NULL"
        ).format(
            cols=sql.SQL(", ").join(map(sql.Identifier, names)),
            vals=sql.SQL(", ").join(sql.Placeholder() * len(names)),
            sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in names),
        ),
        (flow_id, run_id, *[_adapt(values[n], n) for n in names]),
    )


def update_run(conn: psycopg.Connection[Any], flow_id: str, run_id: str, **values: Any) -> None:
    """Set some columns of the run's audit row; a final status also stamps ``finished_at``."""
    from psycopg import sql

    _check(values)
    names = sorted(values)
    sets: list[sql.Composable] = [sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names]
    if values.get("status") in _FINAL:
        sets.append(sql.SQL("finished_at = now()"))
    conn.execute(
        sql.SQL("UPDATE syncgate.sync_runs SET {} WHERE flow_id = %s AND run_id = %s").format(
            sql.SQL(", ").join(sets)
        ),
        (*[_adapt(values[n], n) for n in names], flow_id, run_id),
    )


def read_run(conn: psycopg.Connection[Any], flow_id: str, run_id: str) -> dict[str, Any] | None:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM syncgate.sync_runs WHERE flow_id = %s AND run_id = %s", (flow_id, run_id)
        ).fetchone()


def _check(values: dict[str, Any]) -> None:
    unknown = set(values) - _COLUMNS
    if unknown:
        raise ValueError(f"not audit columns: {sorted(unknown)}")


def _adapt(value: Any, name: str = "") -> Any:
    from psycopg.types.json import Jsonb

    if name == "error" and isinstance(value, str):
        from syncgate.redact import redact

        return redact(value)  # the last line of defence: whoever wrote it, no secret is stored
    return Jsonb(value) if isinstance(value, (list, dict)) else value
