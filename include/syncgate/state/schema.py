"""DDL of the ``syncgate`` schema in each target database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

STATE_SCHEMA = "syncgate"
STAGING_SCHEMA = "syncgate_staging"

_DDL = """
CREATE SCHEMA IF NOT EXISTS syncgate;
CREATE SCHEMA IF NOT EXISTS syncgate_staging;
CREATE TABLE IF NOT EXISTS syncgate.watermarks (
    flow_id        text PRIMARY KEY,
    cursor_column  text NOT NULL,
    value          text,
    boundary_keys  jsonb NOT NULL DEFAULT '[]'::jsonb,
    batch_id       text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN syncgate.watermarks.value IS
    'Newest cursor value promoted (text form); the next run reads rows at or after it.';
COMMENT ON COLUMN syncgate.watermarks.boundary_keys IS
    'Primary keys of the promoted rows whose cursor equals value: skipped by the next run.';
CREATE TABLE IF NOT EXISTS syncgate.sync_runs (
    flow_id              text NOT NULL,
    run_id               text NOT NULL,
    run_type             text,
    batch_id             text,
    status               text NOT NULL,
    window_from          text,
    window_to            text,
    watermark_before     text,
    watermark_after      text,
    rows_extracted       bigint,
    rows_inserted        bigint,
    rows_updated         bigint,
    rows_deleted         bigint,
    rows_rejected        bigint,
    bytes_landed         bigint,
    extract_seconds      double precision,
    transform_seconds    double precision,
    load_seconds         double precision,
    verify_seconds       double precision,
    promote_seconds      double precision,
    staging_table        text,
    quality_verdict      text,
    quality_report       text,
    failed_expectations  jsonb,
    error                text,
    started_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    PRIMARY KEY (flow_id, run_id),
    CONSTRAINT sync_runs_status CHECK (status IN ('running', 'success', 'rejected', 'failed'))
);
CREATE INDEX IF NOT EXISTS sync_runs_flow_started ON syncgate.sync_runs (flow_id, started_at DESC);
"""


def ensure_state_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the state and staging schemas once; safe under concurrent runs."""
    with conn.transaction():
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog: serialise.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncgate.ensure_state_schema'))")
        conn.execute(_DDL)
