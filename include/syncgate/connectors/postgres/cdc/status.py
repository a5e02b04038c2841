"""A slot's health: does it exist, how much WAL does it hold back, since when is a change waiting."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syncgate.connectors.postgres.cdc import pgoutput

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

_FIRST_BEGIN = (
    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, 1, "
    "'proto_version', '1', 'publication_names', %s) WHERE get_byte(data, 0) = 66 LIMIT 1"
)


@dataclass
class SlotStatus:
    slot: str
    exists: bool
    active: bool  # a session is reading it right now
    retained_bytes: int | None  # WAL the server keeps for it (current position - restart_lsn)
    confirmed_flush_lsn: str | None
    # Commit time of the oldest change waiting in the slot (None: nothing waits, or unknown).
    pending_since: datetime | None


def slot_status(conn: psycopg.Connection[Any], slot: str) -> SlotStatus:
    """Measure ``slot``; the publication looked at for waiting changes is the one of the same
    name (``cdc.names``). Never raises for a busy slot: ``pending_since`` is then None."""
    import psycopg

    row = conn.execute(
        "SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, "
        "confirmed_flush_lsn::text, EXISTS (SELECT 1 FROM pg_publication WHERE pubname = %s) "
        "FROM pg_replication_slots WHERE slot_name = %s",
        (slot, slot),
    ).fetchone()
    if row is None:
        return SlotStatus(slot, False, False, None, None, None)
    active, retained, confirmed, has_publication = row
    since = None
    if has_publication and not active:
        try:
            with conn.transaction():  # a failure must not abort the caller's transaction
                found = conn.execute(_FIRST_BEGIN, (slot, slot)).fetchone()
            if found:
                begin = pgoutput.decode(bytes(found[0]))
                since = begin.committed_at if isinstance(begin, pgoutput.Begin) else None
        except psycopg.errors.ObjectInUse:  # a run is reading it: it is not abandoned
            log.info("Slot %s is busy: its oldest pending change was not looked up", slot)
    return SlotStatus(
        slot, True, bool(active), int(retained) if retained is not None else None, confirmed, since
    )
