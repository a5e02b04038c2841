"""Has a flow's slot changes beyond a position? The wal trigger and the UI ask, cheaply."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncgate.connectors.postgres.cdc import pgoutput
from syncgate.connectors.postgres.cdc.lsn import to_int
from syncgate.connectors.postgres.cdc.slot import with_slot

if TYPE_CHECKING:
    import psycopg

# Messages decoded per check at most (whole transactions: the slot functions stop at a commit).
PROBE_CHANGES = 16
# Only commit messages cross the wire: the position is all a pending check needs.
_COMMITS = (
    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, %s, "
    "'proto_version', '1', 'publication_names', %s) WHERE get_byte(data, 0) = 67"
)


def pending_lsn(conn: psycopg.Connection[Any], slot: str, publication: str, after: str | None) -> str | None:
    """The end position of the first transaction in the slot committed at or past ``after``, else None.

    ``after`` is a position as the flow's watermark stores it (everything committed before it
    is in the target); feeding the returned position back as ``after`` asks for anything newer.
    Decodes at most about ``PROBE_CHANGES`` changes, so a slot that a crash left behind its
    watermark can answer None until the flow's next run moves it (the schedule's poll runs it).
    ``conn`` should be in autocommit mode (a busy slot is retried).
    """
    floor = to_int(after) if after else None
    rows = with_slot(lambda: conn.execute(_COMMITS, (slot, PROBE_CHANGES, publication)).fetchall())
    for (data,) in rows:
        commit = pgoutput.decode(bytes(data))
        if isinstance(commit, pgoutput.Commit) and (floor is None or to_int(commit.commit_lsn) >= floor):
            return commit.end_lsn
    return None
