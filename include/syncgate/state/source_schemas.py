"""The last-seen schema of a schemaless (HTTP) source: the reference for schema drift."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


def read_source_schema(conn: psycopg.Connection[Any], flow_id: str) -> dict[str, dict[str, str]] | None:
    """``{field: {"kind": JSON kind, "type": PostgreSQL type}}``, or None before the first extract."""
    row = conn.execute("SELECT fields FROM syncgate.source_schemas WHERE flow_id = %s", (flow_id,)).fetchone()
    return dict(row[0]) if row else None


def write_source_schema(
    conn: psycopg.Connection[Any], flow_id: str, fields: dict[str, dict[str, str]]
) -> None:
    from psycopg.types.json import Jsonb

    conn.execute(
        "INSERT INTO syncgate.source_schemas (flow_id, fields) VALUES (%s, %s) "
        "ON CONFLICT (flow_id) DO UPDATE SET fields = EXCLUDED.fields, updated_at = now()",
        (flow_id, Jsonb(fields)),
    )
