"""The incremental watermark of each flow: read at extract, advanced only by promote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


KEY_SEPARATOR = "\x1f"  # joins composite primary keys into one comparable string (boundary keys)


@dataclass(frozen=True)
class Watermark:
    """Newest promoted cursor value and the keys of the rows that carry exactly that value."""

    value: str | None = None
    boundary_keys: list[str] = field(default_factory=list)
    batch_id: str | None = None  # the batch that set it: tells two runs' equal values apart
    # The batch number of the read that set it (``batch/fence.py``): a newer read of an
    # overlapping run may promote after it (its window starts at or before this watermark).
    sequence: int | None = None


def read_watermark(conn: psycopg.Connection[Any], flow_id: str) -> Watermark:
    row = conn.execute(
        "SELECT value, boundary_keys, batch_id, sequence FROM syncgate.watermarks WHERE flow_id = %s",
        (flow_id,),
    ).fetchone()
    if row is None:
        return Watermark()
    return Watermark(row[0], list(row[1] or []), row[2], row[3])


def lock_watermark(conn: psycopg.Connection[Any], flow_id: str) -> Watermark:
    """Read the watermark inside the caller's transaction, serialising promotes of one flow."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('syncgate.flow:' || %s))", (flow_id,))
    return read_watermark(conn, flow_id)


def write_watermark(
    conn: psycopg.Connection[Any],
    flow_id: str,
    cursor_column: str,
    mark: Watermark,
    batch_id: str,
    sequence: int | None = None,
) -> None:
    """Upsert the watermark; call inside the promote transaction. ``sequence``: the batch
    number of the read it comes from (None when not set by a promote)."""
    from psycopg.types.json import Jsonb

    conn.execute(
        """
        INSERT INTO syncgate.watermarks (flow_id, cursor_column, value, boundary_keys, batch_id, sequence)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (flow_id) DO UPDATE SET
            cursor_column = EXCLUDED.cursor_column, value = EXCLUDED.value,
            boundary_keys = EXCLUDED.boundary_keys, batch_id = EXCLUDED.batch_id,
            sequence = EXCLUDED.sequence, updated_at = now()
        """,
        (flow_id, cursor_column, mark.value, Jsonb(mark.boundary_keys), batch_id, sequence),
    )
