"""The flow page's "Triggers" section: what signals the flow, the last signals, a wal slot's lag.

Shows connection *names* only (a webhook's ``secret_conn_id``, a channel's connection), never
what they hold. The slot of a ``source.capture: wal`` flow lives on the source database: it is
read in a read-only session there, and a source that cannot be reached only blanks that line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncgate.events import store

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

LAST_EVENTS = 20


@dataclass(frozen=True)
class TriggerRow:
    """One trigger of the flow as the page lists it."""

    type: str
    detail: str
    receiver: str | None = None  # the webhook path, relative to the app


@dataclass(frozen=True)
class SlotView:
    """A wal flow's replication slot as the page shows it; ``error`` when it could not be read."""

    slot: str
    exists: bool = False
    active: bool = False
    retained_bytes: int | None = None
    confirmed_flush_lsn: str | None = None
    pending_since: Any = None
    error: str | None = None


def trigger_rows(spec: Any) -> list[TriggerRow]:
    """The flow's triggers (``spec.triggers``: models or mappings), in spec order."""
    rows = []
    for trigger in getattr(spec, "triggers", None) or ():
        values = dict(trigger) if isinstance(trigger, Mapping) else _fields(trigger)
        kind = str(values.get("type", "?"))
        if kind == "webhook":
            rows.append(
                TriggerRow(kind, f"secret connection {values.get('secret_conn_id')}", f"/webhooks/{spec.id}")
            )
        elif kind == "postgres_notify":
            where = values.get("conn_id") or values.get("side") or "the source's connection"
            rows.append(TriggerRow(kind, f"LISTEN {values.get('channel')} on {where}"))
        elif kind == "wal":
            rows.append(TriggerRow(kind, "pending changes in the flow's replication slot"))
        else:
            rows.append(TriggerRow(kind, ""))
    return rows


def is_wal_flow(spec: Any) -> bool:
    capture = getattr(getattr(spec, "source", None), "capture", None)
    return capture == "wal" or any(row.type == "wal" for row in trigger_rows(spec))


def last_events(conn: psycopg.Connection[Any], flow_id: str) -> list[dict[str, Any]]:
    """The flow's newest events; none when the state database predates the event log."""
    row = conn.execute("SELECT to_regclass('syncgate.flow_events') IS NOT NULL").fetchone()
    return store.last_events(conn, flow_id, LAST_EVENTS) if row and row[0] else []


def slot_view(spec: Any) -> SlotView | None:
    """The wal slot's status for a wal flow (None for any other flow)."""
    if not is_wal_flow(spec):
        return None
    try:
        from syncgate.connectors.postgres.cdc.names import slot_name
        from syncgate.connectors.postgres.cdc.status import slot_status
    except ImportError:  # WAL capture is not part of this build yet
        return SlotView(slot="?", error="slot status is not available in this build")
    slot = slot_name(spec.id)
    conn_id = str(spec.source.conn_id)
    try:
        from syncgate.db.connect import connect

        conn = connect(conn_id)
        try:
            conn.read_only = True
            status = slot_status(conn, slot)
        finally:
            conn.close()
    except Exception as exc:  # unreachable source, no rights on pg_replication_slots, ...
        log.warning("syncgate UI: slot %s on %r not read: %s", slot, conn_id, type(exc).__name__)
        return SlotView(slot=slot, error=f"source database {conn_id!r} could not be read")
    return SlotView(
        slot=status.slot,
        exists=status.exists,
        active=status.active,
        retained_bytes=status.retained_bytes,
        confirmed_flush_lsn=status.confirmed_flush_lsn,
        pending_since=status.pending_since,
    )


def _fields(trigger: Any) -> dict[str, Any]:
    dump = getattr(trigger, "model_dump", None)
    if callable(dump):
        return dict(dump())
    return {k: getattr(trigger, k, None) for k in ("type", "secret_conn_id", "channel", "conn_id", "side")}
