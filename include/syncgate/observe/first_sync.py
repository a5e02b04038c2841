"""The first-sync grace: a flow that has never promoted is pending, not late, for a while.

On a fresh install every target is missing until the flow's first run promotes, and a first
run takes minutes; judged like a running flow, each would open a critical "target table does
not exist" incident at the monitor's first tick (issue 14). So the monitor records when it
first saw each flow (``syncgate.flow_first_seen``), and a flow with no successful run yet is
"pending first sync" until its grace has passed since then: ``alerts.first_sync_grace``, by
default the flow's freshness ``max_age`` (the data may be that old anyway). After the grace a
flow that still never promoted is a freshness incident that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncgate.spec.alerts import Alerts
from syncgate.spec.model import Freshness

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class FirstSync:
    """When syncgate first saw the flow, and whether any of its runs ever promoted."""

    first_seen: datetime
    promoted: bool

    def waited(self, now: datetime) -> timedelta:
        return max(now - self.first_seen, timedelta(0))


def grace(fresh: Freshness, alerts: Alerts) -> timedelta:
    """The flow's first-sync grace: its own setting, else its freshness ``max_age``."""
    return alerts.first_sync_grace if alerts.first_sync_grace is not None else fresh.max_age


def is_pending(first: FirstSync | None, fresh: Freshness, alerts: Alerts, now: datetime) -> bool:
    """Never promoted and still inside its grace: not judged late yet."""
    return first is not None and not first.promoted and first.waited(now) < grace(fresh, alerts)


def record_and_read(
    conn: psycopg.Connection[Any], flow_ids: Sequence[str], now: datetime
) -> dict[str, FirstSync]:
    """Record flows seen for the first time (at ``now``) and read every flow's first sighting.

    One statement: the insert's own rows come back through RETURNING, as the statement's
    snapshot does not see them in the table. "Promoted" is any successful run, one probe of the
    ``sync_runs_flow_success`` index per flow.
    """
    rows = conn.execute(
        """
        WITH f AS (SELECT DISTINCT unnest(%(ids)s::text[]) AS flow_id),
        added AS (
            INSERT INTO syncgate.flow_first_seen (flow_id, first_seen_at, seen_by)
            SELECT flow_id, %(now)s, 'monitor' FROM f
            ON CONFLICT (flow_id) DO NOTHING
            RETURNING flow_id, first_seen_at
        )
        SELECT f.flow_id, coalesce(a.first_seen_at, s.first_seen_at),
               EXISTS (SELECT 1 FROM syncgate.sync_runs r
                       WHERE r.flow_id = f.flow_id AND r.status = 'success')
        FROM f
        LEFT JOIN added a ON a.flow_id = f.flow_id
        LEFT JOIN syncgate.flow_first_seen s ON s.flow_id = f.flow_id
        """,
        {"ids": list(flow_ids), "now": now},
    ).fetchall()
    return {flow_id: FirstSync(first_seen, bool(promoted)) for flow_id, first_seen, promoted in rows}
